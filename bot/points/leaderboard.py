"""Leaderboards by person and by department, computed from the ledger for a period.

By person: points in the period (``points_ledger.local_day``), ties broken by accuracy in the
period, then by who reached the score first (the time of the member's last ledger row in the
period), then by member id so the order is total and stable.

By department: average points per roster member (active members of the department, bound or
not) and the participation rate (SPEC §9): departments of different sizes compete fairly.

Only active members are ranked: someone removed from the roster keeps their history but no
longer appears in rankings. The database does the heavy lifting (one aggregate per member);
accuracy is fetched only for the members whose order depends on it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.core.periods import Period
from bot.db.models import Answer, Department, LedgerEntry, Member
from bot.reports.activity import between, participant_ids

# Above this many members needing accuracy, one grouped scan beats an IN list.
_IN_LIST_LIMIT = 2000


@dataclass(frozen=True)
class LeaderRow:
    """One person's place in a ranking."""

    rank: int
    member_id: int
    name: str
    department: str | None
    points: int
    answers: int
    correct: int
    reached_at: dt.datetime | None

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.answers if self.answers else None


@dataclass(frozen=True)
class DepartmentRow:
    """One department's place: roster = its active members, bound or not."""

    rank: int
    department_id: int
    name: str
    roster: int
    participants: int
    points: int

    @property
    def average_points(self) -> float:
        return self.points / self.roster if self.roster else 0.0

    @property
    def participation_rate(self) -> float | None:
        return self.participants / self.roster if self.roster else None


@dataclass(frozen=True)
class Score:
    """A member's points in a period and when they reached them (the input of a ranking)."""

    member_id: int
    name: str
    department_id: int | None
    department: str | None
    points: int
    reached_at: dt.datetime | None


async def _scores(
    session: AsyncSession, period: Period, department: str | None = None
) -> list[Score]:
    """Members with a positive total in the period, with the time they reached it."""
    totals = (
        select(
            LedgerEntry.member_id.label("member_id"),
            func.sum(LedgerEntry.delta).label("points"),
            func.max(LedgerEntry.created_at).label("reached_at"),
        )
        .where(LedgerEntry.local_day >= period.start, LedgerEntry.local_day <= period.end)
        .group_by(LedgerEntry.member_id)
        .subquery()
    )
    query = (
        select(
            totals.c.member_id,
            Member.name,
            Member.department_id,
            Department.name,
            totals.c.points,
            totals.c.reached_at,
        )
        .join(Member, Member.id == totals.c.member_id)
        .outerjoin(Department, Department.id == Member.department_id)
        .where(Member.active.is_(True), totals.c.points > 0)
    )
    if department is not None:
        query = query.where(Department.name == department)
    rows = await session.execute(query)
    return [
        Score(
            member_id=r[0],
            name=r[1],
            department_id=r[2],
            department=r[3],
            points=int(r[4]),
            reached_at=_aware(r[5]),
        )
        for r in rows
    ]


def _aware(value: dt.datetime | str | None) -> dt.datetime | None:
    # MAX() over a subquery may come back untyped on SQLite (plain text).
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


async def answer_counts(
    session: AsyncSession,
    config: Config,
    period: Period,
    member_ids: Iterable[int] | None = None,
) -> dict[int, tuple[int, int]]:
    """member id → (answers, correct answers) in the period; all members when ids is None."""
    start, end = period.bounds_utc(config.tz)
    base = select(
        Answer.member_id,
        func.count(),
        func.sum(case((Answer.correct.is_(True), 1), else_=0)),
    ).where(between(Answer.answered_at, start, end))
    result: dict[int, tuple[int, int]] = {}
    if member_ids is None:
        for member_id, n, c in await session.execute(base.group_by(Answer.member_id)):
            result[member_id] = (int(n), int(c or 0))
        return result
    ids = sorted(set(member_ids))
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        query = base.where(Answer.member_id.in_(chunk)).group_by(Answer.member_id)
        for member_id, n, c in await session.execute(query):
            result[member_id] = (int(n), int(c or 0))
    return result


def _order_key(score: Score, counts: dict[int, tuple[int, int]]) -> tuple:
    n, c = counts.get(score.member_id, (0, 0))
    accuracy = c / n if n else -1.0  # no answers sorts after any accuracy
    reached = score.reached_at.timestamp() if score.reached_at else float("inf")
    return (-score.points, -accuracy, reached, score.member_id)


async def _ranked(
    session: AsyncSession,
    config: Config,
    scores: Sequence[Score],
    period: Period,
    *,
    positions: int | None = None,
    member_id: int | None = None,
) -> tuple[list[tuple[int, Score]], dict[int, tuple[int, int]]]:
    """Rank ``scores``; only the tie groups touching the first ``positions`` places (or all
    when None) and the group of ``member_id`` are ordered, since only they are shown."""
    groups: dict[int, list[Score]] = defaultdict(list)
    for score in scores:
        groups[score.points].append(score)
    wanted: list[int] = []
    place = 0
    own_points = next((s.points for s in scores if s.member_id == member_id), None)
    for points in sorted(groups, reverse=True):
        group = groups[points]
        shown = positions is None or place < positions
        if shown or points == own_points:
            wanted.append(points)
        place += len(group)
    # Shown rows display their accuracy, so every member of a wanted group needs it.
    need = [s.member_id for p in wanted for s in groups[p]]
    if len(need) > _IN_LIST_LIMIT:
        counts = await answer_counts(session, config, period)
    else:
        counts = await answer_counts(session, config, period, need) if need else {}
    ranked: list[tuple[int, Score]] = []
    place = 0
    for points in sorted(groups, reverse=True):
        group = groups[points]
        if points in wanted:
            for offset, score in enumerate(sorted(group, key=lambda s: _order_key(s, counts))):
                ranked.append((place + offset + 1, score))
        place += len(group)
    return ranked, counts


def rank_people(scores: Sequence[Score], counts: dict[int, tuple[int, int]]) -> list[LeaderRow]:
    """Rank every score given everyone's (answers, correct) — for callers that have them."""
    ordered = sorted(scores, key=lambda s: _order_key(s, counts))
    return [_row(i + 1, score, counts) for i, score in enumerate(ordered)]


def _row(rank: int, score: Score, counts: dict[int, tuple[int, int]]) -> LeaderRow:
    n, c = counts.get(score.member_id, (0, 0))
    return LeaderRow(
        rank=rank,
        member_id=score.member_id,
        name=score.name,
        department=score.department,
        points=score.points,
        answers=n,
        correct=c,
        reached_at=score.reached_at,
    )


async def person_leaderboard(
    session: AsyncSession,
    config: Config,
    period: Period,
    *,
    department: str | None = None,
    limit: int | None = None,
) -> list[LeaderRow]:
    """People ranked by points in ``period`` (within ``department`` when given)."""
    scores = await _scores(session, period, department)
    ranked, counts = await _ranked(session, config, scores, period, positions=limit)
    rows = [_row(rank, score, counts) for rank, score in ranked]
    return rows[:limit] if limit is not None else rows


async def member_rank(
    session: AsyncSession, config: Config, member_id: int, period: Period
) -> tuple[int | None, int]:
    """(rank, number ranked) of a member in the whole unit; rank is None without points."""
    scores = await _scores(session, period)
    if not any(s.member_id == member_id for s in scores):
        return None, len(scores)
    ranked, _ = await _ranked(session, config, scores, period, positions=0, member_id=member_id)
    rank = next(r for r, s in ranked if s.member_id == member_id)
    return rank, len(scores)


async def member_line(
    session: AsyncSession, config: Config, member_id: int, period: Period
) -> LeaderRow | None:
    """A member's own row (rank, points, accuracy) for "your rank" lines; None without points."""
    scores = await _scores(session, period)
    if not any(s.member_id == member_id for s in scores):
        return None
    ranked, counts = await _ranked(
        session, config, scores, period, positions=0, member_id=member_id
    )
    rank, score = next((r, s) for r, s in ranked if s.member_id == member_id)
    return _row(rank, score, counts)


async def roster_by_department(session: AsyncSession) -> dict[int | None, int]:
    """department id (None = no department) → number of active members."""
    rows = await session.execute(
        select(Member.department_id, func.count())
        .where(Member.active.is_(True))
        .group_by(Member.department_id)
    )
    return {dept: int(n) for dept, n in rows}


async def department_leaderboard(
    session: AsyncSession, config: Config, period: Period
) -> list[DepartmentRow]:
    """Departments ranked by average points per roster member, then participation rate.

    Departments with nobody on the roster are left out (there is no one to average over);
    members without a department are not a department and are not ranked here.
    """
    roster = await roster_by_department(session)
    totals = (
        select(
            LedgerEntry.member_id.label("member_id"),
            func.sum(LedgerEntry.delta).label("points"),
        )
        .where(LedgerEntry.local_day >= period.start, LedgerEntry.local_day <= period.end)
        .group_by(LedgerEntry.member_id)
        .subquery()
    )
    points = {
        dept: int(p or 0)
        for dept, p in await session.execute(
            select(Member.department_id, func.sum(totals.c.points))
            .join(Member, Member.id == totals.c.member_id)
            .where(Member.active.is_(True))
            .group_by(Member.department_id)
        )
    }
    active = participant_ids(period, config.tz).subquery()
    participants = {
        dept: int(n)
        for dept, n in await session.execute(
            select(Member.department_id, func.count())
            .join(active, active.c.member_id == Member.id)
            .where(Member.active.is_(True))
            .group_by(Member.department_id)
        )
    }
    departments = await session.execute(
        select(Department.id, Department.name, Department.sort_order)
    )
    return rank_departments(
        [
            DepartmentEntry(
                dept_id,
                name,
                order,
                roster.get(dept_id, 0),
                points.get(dept_id, 0),
                participants.get(dept_id, 0),
            )
            for dept_id, name, order in departments
        ]
    )


@dataclass(frozen=True)
class DepartmentEntry:
    """A department's totals before ranking."""

    department_id: int
    name: str
    sort_order: int
    roster: int
    points: int
    participants: int


def rank_departments(entries: Iterable[DepartmentEntry]) -> list[DepartmentRow]:
    """Average points per roster member, then participation rate; empty departments are out."""
    kept = [e for e in entries if e.roster > 0]
    kept.sort(
        key=lambda e: (
            -e.points / e.roster,
            -e.participants / e.roster,
            e.sort_order,
            e.department_id,
        )
    )
    return [
        DepartmentRow(
            rank=i + 1,
            department_id=e.department_id,
            name=e.name,
            roster=e.roster,
            participants=e.participants,
            points=e.points,
        )
        for i, e in enumerate(kept)
    ]
