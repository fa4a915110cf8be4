"""Answer checking for private-chat quizzes (pure functions, no I/O).

Options may be shown in a shuffled order per attempt; ``option_order[i]`` is the original
index of the option shown at position ``i``. Members press shown letters; the check maps them
back to the original letters the bank stores.

Blank answers are compared after normalisation, so that ``１９８２``, ``1982 。`` and
``1982`` are the same answer, and any listed variant is accepted.
"""

from __future__ import annotations

import random
import string
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

LETTERS = string.ascii_uppercase

# Options that refer to their neighbours ("以上都对", "none of the above") lose their meaning
# when shuffled; a question with one of them keeps its order.
_POSITIONAL_MARKERS = ("以上", "上述", "above", "以下", "below", "前述")


def letter(index: int) -> str:
    """The option letter of a 0-based position (A, B, …)."""
    return LETTERS[index]


def letter_index(value: str) -> int:
    """The 0-based position of an option letter; ValueError for anything else."""
    value = value.strip().upper()
    if len(value) != 1 or value not in LETTERS:
        raise ValueError(f"not an option letter: {value!r}")
    return LETTERS.index(value)


def keeps_order(options: Sequence[str]) -> bool:
    """True when some option refers to the others by position, so shuffling would break it."""
    for option in options:
        lowered = option.casefold()
        if any(marker in lowered for marker in _POSITIONAL_MARKERS):
            return True
    return False


def option_order(seed: int, options: Sequence[str], *, shuffle: bool = True) -> list[int]:
    """The shown order of ``options`` for one asked question, the same for the same seed."""
    order = list(range(len(options)))
    if shuffle and len(order) > 1 and not keeps_order(options):
        random.Random(seed).shuffle(order)
    return order


def shown_letters_of(original_letters: Iterable[str], order: Sequence[int]) -> list[str]:
    """Original answer letters → the letters the member saw, sorted (for display)."""
    position = {original: shown for shown, original in enumerate(order)}
    shown = [letter(position[letter_index(value)]) for value in original_letters]
    return sorted(shown)


def original_letters_of(shown: Iterable[int], order: Sequence[int]) -> list[str]:
    """Shown positions the member chose → the original letters, sorted."""
    return sorted(letter(order[i]) for i in shown)


def check_choice(shown: Iterable[int], order: Sequence[int], answer: Sequence[str]) -> bool:
    """Single or multiple choice: the chosen set must equal the answer set exactly."""
    chosen = set(original_letters_of(shown, order))
    expected = {value.strip().upper() for value in answer}
    return bool(chosen) and chosen == expected


def check_judge(given: bool, answer: Sequence[Any]) -> bool:
    """True/false: the stored answer is ``[True]`` or ``[False]``."""
    return bool(answer) and given is bool(answer[0])


def is_ignored(char: str) -> bool:
    """Whether a character is left out when comparing blank answers (punctuation, spaces,
    invisible format characters)."""
    category = unicodedata.category(char)
    return category[0] in ("P", "Z") or category in ("Cc", "Cf")


def normalise_blank(text: str) -> str:
    """The comparable form of a blank answer: NFKC width folding, case folding, and no
    spaces or punctuation (ASCII and Chinese alike: ``，。、《》“”``…).

    A text made only of punctuation keeps its folded form, so it is not equal to everything
    else that is empty after stripping.
    """
    # NFKC before and after case folding: folding can leave a decomposed sequence.
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    # Composing again: dropping a space can bring a combining mark next to a letter.
    kept = unicodedata.normalize("NFC", "".join(c for c in folded if not is_ignored(c)))
    if kept:
        return kept
    return "".join(folded.split())


def check_blank(given: str, variants: Sequence[Any]) -> bool:
    """True when ``given`` equals any accepted variant after normalisation."""
    normal = normalise_blank(given)
    if not normal:
        return False
    return any(normal == normalise_blank(str(variant)) for variant in variants)


def correct_lines(
    qtype: str, answer: Sequence[Any], order: Sequence[int], options: Sequence[str]
) -> list[str]:
    """The correct answer of a choice or blank question as the member should read it:
    ``B. 三级`` lines in shown letters, or the first blank variant. Judge questions are
    rendered by the caller in the member's language."""
    if qtype in ("single", "multiple"):
        lines = []
        for value in shown_letters_of(answer, order):
            original = order[letter_index(value)]
            lines.append(f"{value}. {options[original]}" if original < len(options) else value)
        return lines
    if qtype == "blank":
        return [str(answer[0])] if answer else []
    return []
