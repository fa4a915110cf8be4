"""How a live-quiz question becomes a Telegram poll (pure functions, no I/O).

Telegram caps poll texts (question, option, explanation length and line feeds, option count).
The caps change with the Bot API, so they are not written here: the Telegram layer builds
``PollLimits`` from python-telegram-bot's ``telegram.constants.PollLimit`` and hands it in.
A question that does not fit is sent as a message with the full text, followed by a short
poll that refers to it ("see the message above", options "A", "B", …).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from bot.i18n import translator

LETTERS = string.ascii_uppercase
POLL_TYPES = ("single", "judge", "multiple")  # blanks cannot be a poll: skipped


@dataclass(frozen=True)
class PollLimits:
    """Telegram's poll limits (see ``bot.telegram.live.poll_limits``)."""

    question_length: int
    option_length: int
    option_count: int
    explanation_length: int
    explanation_line_feeds: int
    min_open_period: int


@dataclass(frozen=True)
class QuestionContent:
    """What the poll is made of: a question version's content."""

    type: str
    text: str
    options: list[str]
    answer: list[Any]
    explanation: str | None = None


@dataclass(frozen=True)
class PollPlan:
    """Everything needed to send one question, and to score and reveal it later.

    ``option_map[i]`` is the answer value of poll option ``i`` in the shape the bank stores
    answers (a letter for choice questions, True/False for judge questions), so a vote's
    option ids translate straight into a stored answer.
    """

    intro: str | None
    question: str
    options: list[str]
    option_map: list[Any]
    correct_ids: list[int]
    quiz: bool
    explanation: str | None
    reveal: str | None


def text_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units; never less than ``len``)."""
    return len(text.encode("utf-16-le")) // 2


def fits_poll(content: QuestionContent, limits: PollLimits) -> bool:
    """Whether the question can be a poll at all (with letters for long options)."""
    if content.type not in POLL_TYPES:
        return False
    if content.type == "judge":
        return True
    return 2 <= len(content.options) <= min(limits.option_count, len(LETTERS))


def explanation_fits(text: str, limits: PollLimits) -> bool:
    return (
        text_length(text) <= limits.explanation_length
        and text.count("\n") <= limits.explanation_line_feeds
    )


def shorten_explanation(text: str, limits: PollLimits) -> str:
    """The explanation cut to the poll limits (extra line feeds become spaces)."""
    lines = text.split("\n")
    keep = limits.explanation_line_feeds
    if len(lines) > keep + 1:
        lines = [*lines[:keep], " ".join(line.strip() for line in lines[keep:])]
    text = "\n".join(lines)
    if text_length(text) <= limits.explanation_length:
        return text
    out = ""
    for char in text:
        if text_length(out + char) > limits.explanation_length - 1:
            break
        out += char
    return out.rstrip() + "…"


def kind_label(type_: str, locale: str) -> str:
    _ = translator(locale)
    return {
        "single": _("single choice"),
        "multiple": _("multiple choice"),
        "judge": _("true/false"),
    }.get(type_, type_)


def _answer_values(content: QuestionContent) -> list[Any]:
    if content.type == "judge":
        return [True, False]
    return list(LETTERS[: len(content.options)])


def _correct_ids(content: QuestionContent, values: list[Any]) -> list[int]:
    if content.type == "judge":
        truth = bool(content.answer[0]) if content.answer else True
        return [0 if truth else 1]
    wanted = {str(a).strip().upper() for a in content.answer}
    return [i for i, value in enumerate(values) if value in wanted]


def plan_poll(
    content: QuestionContent, *, number: int, total: int, locale: str, limits: PollLimits
) -> PollPlan:
    """Lay a question out as a poll, or as a message plus a short poll when it is too long."""
    _ = translator(locale)
    kind = kind_label(content.type, locale)
    values = _answer_values(content)
    correct = _correct_ids(content, values)
    if content.type == "judge":
        labels = [_("✔ True"), _("✘ False")]
    else:
        labels = list(content.options)
    question = _("[{n}/{total} {kind}] {text}", n=number, total=total, kind=kind, text=content.text)
    quiz = content.type != "multiple"
    explanation = (content.explanation or "").strip() or None
    long_explanation = explanation is not None and not explanation_fits(explanation, limits)
    too_long = text_length(question) > limits.question_length or any(
        text_length(label) > limits.option_length for label in labels
    )
    intro = None
    options = labels
    if too_long:
        lines = [_("Question {n}/{total} · {kind}", n=number, total=total, kind=kind), content.text]
        if content.type != "judge":
            lines.append("")
            lines.extend(f"{LETTERS[i]}. {label}" for i, label in enumerate(labels))
        intro = "\n".join(lines)
        question = _(
            "[{n}/{total} {kind}] See the message above.", n=number, total=total, kind=kind
        )
        if content.type != "judge":
            options = [LETTERS[i] for i in range(len(labels))]
    reveal = None
    poll_explanation = None
    if quiz:
        if explanation is not None:
            poll_explanation = shorten_explanation(explanation, limits)
            if long_explanation:
                reveal = _(
                    "Question {n}/{total} — explanation: {text}",
                    n=number,
                    total=total,
                    text=explanation,
                )
    else:
        shown = [f"{LETTERS[i]}. {labels[i]}" if too_long else labels[i] for i in correct]
        reveal = _(
            "Question {n}/{total} — correct answer: {answer}",
            n=number,
            total=total,
            answer="; ".join(shown),
        )
        if explanation:
            reveal += "\n" + _("Explanation: {text}", text=explanation)
    return PollPlan(
        intro=intro,
        question=question,
        options=options,
        option_map=values,
        correct_ids=correct,
        quiz=quiz,
        explanation=poll_explanation,
        reveal=reveal,
    )


def given_answer(option_map: list[Any], option_ids: list[int]) -> list[Any]:
    """Poll option ids → the stored answer shape; unknown ids are dropped."""
    return [option_map[i] for i in sorted(set(option_ids)) if 0 <= i < len(option_map)]


def is_correct(option_ids: list[int], correct_ids: list[int]) -> bool:
    """Exactly the correct options (all of them for multiple choice, nothing else)."""
    return bool(option_ids) and sorted(set(option_ids)) == sorted(set(correct_ids))
