"""What the private-chat quiz services return: plain values the handlers render."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


class QuizError(ValueError):
    """A request the service cannot honour (unknown mode, bad arguments)."""


class QuizConflict(Exception):
    """The attempt advanced under this transaction (another replica answered first); the
    caller's transaction must roll back."""


@dataclass(frozen=True)
class QuestionView:
    """One asked question as the member sees it (options in shown order)."""

    attempt_id: int
    aq_id: int
    mode: str
    position: int
    total: int | None
    type: str
    text: str
    options: list[str]
    selection: list[int] = field(default_factory=list)
    seconds: int | None = None
    deadline_at: dt.datetime | None = None


@dataclass(frozen=True)
class Summary:
    mode: str
    questions: int
    correct: int
    points: int
    today_points: int
    season_name: str | None
    season_points: int | None
    total_points: int
    bank_title: str | None = None


@dataclass(frozen=True)
class Campaign:
    bank_id: int
    slug: str
    title: str
    campaign_title: str
    last_day: dt.date
    questions: int
    taken: bool


@dataclass(frozen=True)
class StartResult:
    """``status``: question (a new or resumed attempt), done (already taken this period),
    empty (no question to ask), campaigns (choose a special quiz), no_campaign, unknown_bank,
    closed (campaign not running today), nothing_due (review), too_many (repeatable modes)."""

    status: str
    question: QuestionView | None = None
    resumed: bool = False
    summary: Summary | None = None
    campaigns: list[Campaign] = field(default_factory=list)
    bank_title: str | None = None
    next_due: dt.datetime | None = None
    notebook_size: int = 0


@dataclass(frozen=True)
class AnswerOutcome:
    """``status``: answered, toggled, empty_selection, duplicate (already answered),
    stale (not the current question of an active attempt), not_yours, invalid."""

    status: str
    question: QuestionView | None = None
    correct: bool = False
    late: bool = False
    given: list[str] = field(default_factory=list)
    answer: list[Any] = field(default_factory=list)
    correct_lines: list[str] = field(default_factory=list)
    explanation: str | None = None
    points: int = 0
    capped: bool = False
    streak: int = 0
    next_question: QuestionView | None = None
    summary: Summary | None = None
