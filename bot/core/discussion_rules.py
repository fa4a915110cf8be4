"""When a discussion reply counts, and how long a study reflection is (pure functions).

A topic discussion rewards saying something, not the reflex of agreeing. So a reply is
measured by its *substantive* characters: the text is normalised (full-width forms become
half-width, case is folded), links, @mentions and "+1"-style markers are dropped, then
everything that is not a letter or a digit goes (emoji, stickers' fallback emoji, skin-tone and
variation selectors, punctuation, spaces), and runs where the same unit of one to eight
characters repeats three or more times ("哈哈哈哈", "666666", "学习学习学习") shrink to one
unit. What is left and consists only of agreement words ("同意", "赞", "顶", "1", "ok" …)
counts as nothing. A reply counts when what remains is at least ``min_chars`` long.

Reflections are longer texts written in private; their length is simply the number of
characters that are not white space (or invisible formatting characters such as zero-width
spaces), so that padding with blank lines does not help.
"""

from __future__ import annotations

import re
import unicodedata

# Short replies that only express agreement or acknowledgement ("+1"-style text).
AGREEMENT_WORDS: tuple[str, ...] = (
    "1",
    "同意",
    "赞同",
    "赞成",
    "附议",
    "支持",
    "赞",
    "点赞",
    "顶",
    "好",
    "很好",
    "好的",
    "对",
    "对的",
    "是",
    "是的",
    "嗯",
    "收到",
    "学习了",
    "已学习",
    "受教了",
    "同感",
    "沙发",
    "说得好",
    "说的好",
    "讲得好",
    "不错",
    "厉害",
    "哈",
    "呵",
    "ok",
    "okay",
    "yes",
    "agree",
    "agreed",
    "good",
    "nice",
    "like",
    "great",
    "mark",
)

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_PLUS_ONE = re.compile(r"\+\s*\d+")
# A unit of 1–8 characters repeated three or more times in a row.
_REPEAT = re.compile(r"(.{1,8}?)\1{2,}", re.DOTALL)
_AGREEMENT_ONLY = re.compile(
    "(?:" + "|".join(re.escape(w) for w in sorted(AGREEMENT_WORDS, key=len, reverse=True)) + ")+"
)


def normalise(text: str) -> str:
    """Full-width → half-width and compatibility forms (NFKC), case folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _is_substantive_char(char: str) -> bool:
    # Letters (L*: Latin, CJK, kana, hangul …) and numbers (N*); emoji are symbols (So/Sk),
    # selectors and keycaps are marks (Mn/Me), ZWJ is a format character (Cf).
    return unicodedata.category(char)[0] in ("L", "N")


def substantive_text(text: str) -> str:
    """The part of a reply that shows it was written about the topic (see the module doc)."""
    if not text:
        return ""
    cleaned = normalise(text)
    cleaned = _URL.sub(" ", cleaned)
    cleaned = _MENTION.sub(" ", cleaned)
    cleaned = _PLUS_ONE.sub(" ", cleaned)
    cleaned = "".join(c for c in cleaned if _is_substantive_char(c))
    # Collapsing may line up new repetitions ("哈哈哈啊哈哈哈啊哈哈哈啊"): repeat until stable.
    previous = None
    while previous != cleaned:
        previous = cleaned
        cleaned = _REPEAT.sub(r"\1", cleaned)
    if _AGREEMENT_ONLY.fullmatch(cleaned):
        return ""
    return cleaned


def substantive_length(text: str) -> int:
    return len(substantive_text(text))


def reply_counts(text: str | None, min_chars: int) -> bool:
    """True when a discussion reply is substantial enough to count as participation."""
    return substantive_length(text or "") >= max(1, min_chars)


def reflection_length(text: str | None) -> int:
    """Characters of a reflection, not counting white space or invisible format characters."""
    if not text:
        return 0
    return sum(1 for c in text if not c.isspace() and unicodedata.category(c) != "Cf")
