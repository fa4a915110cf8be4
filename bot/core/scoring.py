"""Points rules of the private-chat quizzes (SPEC §6), as pure functions.

The ledger enforces idempotency and applies caps; this module decides what an answer is
worth, which ledger kind it goes to, which cap window applies, and how attempts are keyed
("once per day", "once per ISO week", "once per campaign", several challenges a day).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.config import PointsConfig
from bot.core.periods import iso_week_key, week_start

MODES = ("daily", "weekly", "special", "challenge", "review", "material")

# Modes whose period key is the day plus a sequence number: several attempts a day.
REPEATABLE_MODES = ("challenge", "review")

LEDGER_KIND = {
    "daily": "daily_quiz",
    "weekly": "weekly_quiz",
    "special": "special_quiz",
    "challenge": "challenge",
}

DEFAULT_CAMPAIGN_QUESTIONS = 10


@dataclass(frozen=True)
class CapWindow:
    """At most ``limit`` points of a ledger kind between two local days (inclusive)."""

    limit: int
    first_day: dt.date
    last_day: dt.date


def ledger_kind(mode: str) -> str | None:
    """The ledger kind a mode's points go to; None for modes that earn nothing."""
    return LEDGER_KIND.get(mode)


def period_key(mode: str, day: dt.date, *, bank_slug: str | None = None, sequence: int = 1) -> str:
    """The key that makes an attempt unique per (member, mode).

    daily: the local date; weekly: the ISO week (``2026-W48``); special: the campaign bank's
    slug; challenge and review: ``2026-11-27#2`` (several a day); material: the caller's key.
    """
    if mode == "daily":
        return day.isoformat()
    if mode == "weekly":
        return iso_week_key(day)
    if mode == "special":
        if not bank_slug:
            raise ValueError("a special quiz needs its bank")
        return bank_slug
    if mode in REPEATABLE_MODES:
        if sequence < 1:
            raise ValueError("sequence numbers start at 1")
        return f"{day.isoformat()}#{sequence}"
    raise ValueError(f"no period key rule for mode {mode!r}")


def sequence_of(key: str) -> int:
    """The sequence number of a ``YYYY-MM-DD#n`` key (0 when it has none)."""
    _, sep, tail = key.partition("#")
    return int(tail) if sep and tail.isdigit() else 0


def question_count(
    mode: str, rules: PointsConfig, *, campaign_questions: int | None = None
) -> int | None:
    """Questions per attempt; None for the open-ended challenge."""
    if mode == "daily":
        return rules.daily_quiz.questions
    if mode == "weekly":
        return rules.weekly_quiz.questions
    if mode == "special":
        return campaign_questions or DEFAULT_CAMPAIGN_QUESTIONS
    if mode == "review":
        return rules.review.questions
    if mode == "challenge":
        return None
    raise ValueError(f"no question count rule for mode {mode!r}")


def answer_points(mode: str, correct: bool, streak_after: int, rules: PointsConfig) -> int:
    """Points an answer earns before caps.

    ``streak_after`` is the number of correct answers in a row including this one; the
    challenge pays ``points`` each time it reaches a multiple of ``every``.
    """
    if not correct:
        return 0
    if mode == "daily":
        return rules.daily_quiz.per_correct
    if mode == "weekly":
        return rules.weekly_quiz.per_correct
    if mode == "special":
        return rules.special_quiz.per_correct
    if mode == "challenge":
        rule = rules.challenge
        return rule.points if streak_after > 0 and streak_after % rule.every == 0 else 0
    return 0


def cap_window(mode: str, rules: PointsConfig, day: dt.date) -> CapWindow | None:
    """The cap that applies to an answer given on local ``day``.

    Daily quiz and challenge: their ``daily_cap`` per day. Weekly quiz: one quiz's worth
    per ISO week. Special quizzes have no cap window of their own: one attempt per campaign
    (the attempt's unique key) already bounds them, and campaigns may overlap.
    """
    if mode == "daily":
        return CapWindow(rules.daily_quiz.daily_cap, day, day)
    if mode == "challenge":
        return CapWindow(rules.challenge.daily_cap, day, day)
    if mode == "weekly":
        first = week_start(day)
        limit = rules.weekly_quiz.questions * rules.weekly_quiz.per_correct
        return CapWindow(limit, first, first + dt.timedelta(days=6))
    return None


def capped(points: int, already: int, limit: int) -> int:
    """The part of ``points`` that still fits under ``limit`` given ``already`` awarded."""
    if points <= 0:
        return points
    return max(0, min(points, limit - already))


def campaign_open(first: dt.date | None, last: dt.date | None, day: dt.date) -> bool:
    """Whether a campaign bank can be taken on ``day`` (both ends inclusive)."""
    if first is None or last is None:
        return False
    return first <= day <= last


def accuracy(correct: int, answered: int) -> float | None:
    """Share of correct answers, None when nothing was answered."""
    if answered <= 0:
        return None
    return correct / answered
