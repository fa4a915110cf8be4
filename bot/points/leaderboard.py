"""Leaderboards by person and by department, computed from the ledger for a period.

By person: points in the period (``points_ledger.local_day``), ties broken by accuracy in the
period, then by who reached the score first (the time of the member's last ledger row in the
period), then by member id so the order is total and stable.

By department: average points per roster member (active members of the department, bound or
not) and the participation rate (SPEC §9): departments of different sizes compete fairly.

Only active members are ranked: someone removed from the roster keeps their history but no
longer appears in rankings. Totals come from ``bot/reports/rollups.py`` (closed months rolled
up, the other days raw) in one aggregate per member; accuracy is fetched only for the members
whose order depends on it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.core.periods import Period
from bot.db.models import Department, Member
from bot.reports.activity import other_activity_pairs, took_part
from bot.reports.rollups import aware, cover, member_rows, member_totals, refresh

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


async def _points(
    session: AsyncSession,
    config: Config,
    period: Period,
    through: dt.date | None,
    department: str | None = None,
) -> dict[int, int]:
    """member id → points in the period, for active members with a positive total."""
    totals = member_rows(cover(period.start, period.end, through), config.tz, ("points",))
    assert totals is not None  # a period has at least one day
    rows = totals.subquery()
    query = (
        select(rows.c.member_id, rows.c.points)
        .join(Member, Member.id == rows.c.member_id)
        .where(Member.active.is_(True), rows.c.points > 0)
    )
    if department is not None:
        query = query.join(Department, Department.id == Member.department_id).where(
            Department.name == department
        )
    return {member_id: int(points) for member_id, points in await session.execute(query)}


async def _scores(
    session: AsyncSession,
    config: Config,
    period: Period,
    through: dt.date | None,
    points: dict[int, int],
    member_ids: list[int],
) -> list[Score]:
    """Name, department and the time the score was reached, for the given members only."""
    if not member_ids:
        return []
    ids = None if len(member_ids) > _IN_LIST_LIMIT else member_ids
    reached = member_rows(
        cover(period.start, period.end, through), config.tz, ("last_award_at",), members=ids
    )
    assert reached is not None
    rows = reached.subquery()
    query = (
        select(Member.id, Member.name, Member.department_id, Department.name, rows.c.last_award_at)
        .join(rows, rows.c.member_id == Member.id)
        .outerjoin(Department, Department.id == Member.department_id)
    )
    if ids is not None:
        query = query.where(Member.id.in_(ids))
    wanted = set(member_ids)
    return [
        Score(
            member_id=r[0],
            name=r[1],
            department_id=r[2],
            department=r[3],
            # The points the ranking was made of, even if a new award just came in.
            points=points[r[0]],
            reached_at=aware(r[4]),
        )
        for r in await session.execute(query)
        if r[0] in wanted
    ]


async def answer_counts(
    session: AsyncSession,
    config: Config,
    period: Period,
    member_ids: Iterable[int] | None = None,
    *,
    now: dt.datetime | None = None,
) -> dict[int, tuple[int, int]]:
    """member id → (answers, correct answers) in the period; all members when ids is None."""
    through = await refresh(session, config.tz, now)
    ids = None if member_ids is None else sorted(set(member_ids))
    return await _answer_counts(session, config, period, through, ids)


async def _answer_counts(
    session: AsyncSession,
    config: Config,
    period: Period,
    through: dt.date | None,
    member_ids: list[int] | None,
) -> dict[int, tuple[int, int]]:
    if member_ids is not None and not member_ids:
        return {}
    totals = await member_totals(
        session,
        config.tz,
        cover(period.start, period.end, through),
        ("answers", "correct"),
        members=member_ids,
    )
    return {m: (t.answers, t.correct) for m, t in totals.items() if t.answers}


def _order_key(score: Score, counts: dict[int, tuple[int, int]]) -> tuple:
    n, c = counts.get(score.member_id, (0, 0))
    accuracy = c / n if n else -1.0  # no answers sorts after any accuracy
    reached = score.reached_at.timestamp() if score.reached_at else float("inf")
    return (-score.points, -accuracy, reached, score.member_id)


async def _ranked(
    session: AsyncSession,
    config: Config,
    points: dict[int, int],
    period: Period,
    through: dt.date | None,
    *,
    positions: int | None = None,
    member_id: int | None = None,
) -> tuple[list[tuple[int, Score]], dict[int, tuple[int, int]]]:
    """Rank the members of ``points``; only the tie groups touching the first ``positions``
    places (or all when None) and the group of ``member_id`` are ordered, since only they
    are shown — and only their members' names, accuracy and times are fetched."""
    groups: dict[int, list[int]] = defaultdict(list)
    for member, total in points.items():
        groups[total].append(member)
    wanted: list[int] = []
    place = 0
    own_points = points.get(member_id) if member_id is not None else None
    for total in sorted(groups, reverse=True):
        shown = positions is None or place < positions
        if shown or total == own_points:
            wanted.append(total)
        place += len(groups[total])
    # Shown rows display their accuracy, so every member of a wanted group needs it.
    need = sorted(m for total in wanted for m in groups[total])
    scores = {s.member_id: s for s in await _scores(session, config, period, through, points, need)}
    counts = await _answer_counts(
        session, config, period, through, None if len(need) > _IN_LIST_LIMIT else need
    )
    ranked: list[tuple[int, Score]] = []
    place = 0
    for total in sorted(groups, reverse=True):
        group = groups[total]
        if total in wanted:
            ordered = sorted((scores[m] for m in group), key=lambda s: _order_key(s, counts))
            ranked.extend((place + offset + 1, score) for offset, score in enumerate(ordered))
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
    now: dt.datetime | None = None,
) -> list[LeaderRow]:
    """People ranked by points in ``period`` (within ``department`` when given).

    ``now`` (default: the clock) only decides which months are closed for the rollups; the
    figures are the same either way.
    """
    through = await refresh(session, config.tz, now)
    points = await _points(session, config, period, through, department)
    ranked, counts = await _ranked(session, config, points, period, through, positions=limit)
    rows = [_row(rank, score, counts) for rank, score in ranked]
    return rows[:limit] if limit is not None else rows


async def member_rank(
    session: AsyncSession,
    config: Config,
    member_id: int,
    period: Period,
    *,
    now: dt.datetime | None = None,
) -> tuple[int | None, int]:
    """(rank, number ranked) of a member in the whole unit; rank is None without points."""
    through = await refresh(session, config.tz, now)
    points = await _points(session, config, period, through)
    if member_id not in points:
        return None, len(points)
    ranked, _ = await _ranked(
        session, config, points, period, through, positions=0, member_id=member_id
    )
    rank = next(r for r, s in ranked if s.member_id == member_id)
    return rank, len(points)


async def member_line(
    session: AsyncSession,
    config: Config,
    member_id: int,
    period: Period,
    *,
    now: dt.datetime | None = None,
) -> LeaderRow | None:
    """A member's own row (rank, points, accuracy) for "your rank" lines; None without points."""
    through = await refresh(session, config.tz, now)
    points = await _points(session, config, period, through)
    if member_id not in points:
        return None
    ranked, counts = await _ranked(
        session, config, points, period, through, positions=0, member_id=member_id
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
    session: AsyncSession, config: Config, period: Period, *, now: dt.datetime | None = None
) -> list[DepartmentRow]:
    """Departments ranked by average points per roster member, then participation rate.

    Departments with nobody on the roster are left out (there is no one to average over);
    members without a department are not a department and are not ranked here.
    """
    through = await refresh(session, config.tz, now)
    roster = await roster_by_department(session)
    totals = await member_totals(
        session,
        config.tz,
        cover(period.start, period.end, through),
        ("points", "answers", "reads"),
    )
    start, end = period.bounds_utc(config.tz)
    others = union(*other_activity_pairs(start, end)).subquery()
    active = {m for m, t in totals.items() if took_part(t.answers, t.reads, 0, 0, 0)}
    active.update(m for (m,) in await session.execute(select(others.c.member_id)))
    points: dict[int | None, int] = defaultdict(int)
    participants: dict[int | None, int] = defaultdict(int)
    for member_id, dept in await session.execute(
        select(Member.id, Member.department_id).where(Member.active.is_(True))
    ):
        if member_id in totals:
            points[dept] += totals[member_id].points
        if member_id in active:
            participants[dept] += 1
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
