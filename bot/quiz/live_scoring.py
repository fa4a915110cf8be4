"""Live-quiz scoring and standings (pure functions, no I/O).

Rules (``points.live_quiz``): every correct answer earns ``per_correct``; the first correct
answers of a question by answer time earn ``speed_bonus[0]``, ``speed_bonus[1]``, … on top.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ScoredAnswer:
    """One member's answer to one question, as far as scoring goes."""

    answer_id: int
    member_id: int
    correct: bool
    elapsed_ms: int
    answered_at: dt.datetime


def question_points(
    answers: Sequence[ScoredAnswer], per_correct: int, speed_bonus: Sequence[int]
) -> dict[int, int]:
    """Points per answer id: correct answers ranked by time, the fastest get the bonus.

    Ties on the millisecond go to the answer recorded first (then the lower id), so the
    result never depends on row order.
    """
    points = {a.answer_id: 0 for a in answers}
    correct = sorted(
        (a for a in answers if a.correct), key=lambda a: (a.elapsed_ms, a.answered_at, a.answer_id)
    )
    for place, answer in enumerate(correct):
        bonus = speed_bonus[place] if place < len(speed_bonus) else 0
        points[answer.answer_id] = per_correct + bonus
    return points


@dataclass(frozen=True)
class Standing:
    """A member's line in the round's ranking."""

    rank: int
    member_id: int
    name: str
    department: str | None
    answered: int
    correct: int
    points: int
    time_ms: int  # total time of the correct answers: breaks ties in the order shown


@dataclass(frozen=True)
class MemberTotals:
    member_id: int
    name: str
    department: str | None
    answered: int
    correct: int
    points: int
    time_ms: int


def standings(totals: Sequence[MemberTotals]) -> list[Standing]:
    """Order by points, then correct answers, then speed, then name; equal points share a
    rank (1, 2, 2, 4)."""
    ordered = sorted(totals, key=lambda t: (-t.points, -t.correct, t.time_ms, t.name, t.member_id))
    out: list[Standing] = []
    for index, t in enumerate(ordered):
        rank = out[-1].rank if out and out[-1].points == t.points else index + 1
        out.append(
            Standing(
                rank, t.member_id, t.name, t.department, t.answered, t.correct, t.points, t.time_ms
            )
        )
    return out
