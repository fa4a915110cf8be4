"""The one query layer for per-member, per-question and per-bucket activity totals.

Why: a year's leaderboard or summary summed about a million ledger rows and a million answers
on every call. Closed months never change in normal operation — every writer stamps its rows
with the current time (the ledger's ``local_day`` is the day of the award, answers, reads and
finished quizzes carry the time they were recorded) — so each closed month is summed once into
``rollup_member_months`` and ``rollup_question_months`` and read from there afterwards.

How a range of local days is read (``cover``): the closed whole months inside it come from the
rollups, everything else (the days of partial months at its edges, the months not closed yet)
from the raw tables, with the same definitions, in one statement. Figures are therefore the
same whether a month is rolled up or not; ``raw_only()`` reads everything raw, which is how the
tests prove it.

When a month is closed: ``SETTLE`` after its last local day ended. The margin covers rows
stamped a little in the past: a discussion reply is awarded at the time it was sent, and
Telegram keeps undelivered updates for 24 hours.

Refresh happens on read (``refresh``), in a transaction of its own when the caller's session
has not started one, so the first report after a month closes pays for rolling that month up
and later ones find it done. Writers of past days in bulk (the demo, benchmark generators,
imports of history) call ``invalidate_rollups`` for the days they wrote.

The rarer learning activities (session check-ins, discussion joins, reflections, live
rounds) stay raw: they are few, and their times are not always the time of writing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    Select,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.db.models import (
    Answer,
    LedgerEntry,
    MaterialRead,
    MemberMonth,
    QuestionMonth,
    QuizAttempt,
    RollupState,
)
from bot.db.types import UTCDateTime, utcnow
from bot.db.upsert import insert_or_ignore
from bot.reports.activity import Column, between

STATE = "activity"
SETTLE = dt.timedelta(days=2)

# Per-member measures, in the column order of ``rollup_member_months``.
MEASURES = ("points", "last_award_at", "answers", "correct", "reads", "quizzes")

_use_rollups: ContextVar[bool] = ContextVar("use_rollups", default=True)


@contextlib.contextmanager
def raw_only() -> Iterator[None]:
    """Read every figure from the raw tables within the block (to check the rollups)."""
    token = _use_rollups.set(False)
    try:
        yield
    finally:
        _use_rollups.reset(token)


# --- local days and months ------------------------------------------------------------------


def next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def month_end(day: dt.date) -> dt.date:
    return next_month(day) - dt.timedelta(days=1)


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant a local day starts."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz).astimezone(dt.UTC)


def closed_through(tz: ZoneInfo, now: dt.datetime) -> dt.date:
    """Last day of the latest month that ended at least ``SETTLE`` before ``now``."""
    settled = (now - SETTLE).astimezone(tz).date()
    return settled.replace(day=1) - dt.timedelta(days=1)


@dataclass(frozen=True)
class Cover:
    """How the local days ``first``..``last`` are read.

    ``months``: runs (first month, last month) of month starts read from the rollups;
    ``raw``: ranges of local days read from the raw tables. Together they are the range.
    """

    first: dt.date
    last: dt.date
    months: tuple[tuple[dt.date, dt.date], ...]
    raw: tuple[tuple[dt.date, dt.date], ...]


def cover(
    first: dt.date,
    last: dt.date,
    through: dt.date | None,
    boundaries: Sequence[dt.date] = (),
) -> Cover:
    """Split ``first``..``last``: closed whole months (not cut by a bucket boundary) from the
    rollups, the rest raw. ``through`` is how far the rollups reach (None: nowhere)."""
    months: list[dt.date] = []
    if through is not None:
        month = first if first.day == 1 else next_month(first)
        while month_end(month) <= min(last, through):
            end = month_end(month)
            if not any(month < b <= end for b in boundaries):
                months.append(month)
            month = next_month(month)
    runs: list[tuple[dt.date, dt.date]] = []
    raw: list[tuple[dt.date, dt.date]] = []
    cursor = first
    for month in months:
        if month > cursor:
            raw.append((cursor, month - dt.timedelta(days=1)))
        if runs and next_month(runs[-1][1]) == month:
            runs[-1] = (runs[-1][0], month)
        else:
            runs.append((month, month))
        cursor = month_end(month) + dt.timedelta(days=1)
    if cursor <= last:
        raw.append((cursor, last))
    return Cover(first, last, tuple(runs), tuple(raw))


@dataclass(frozen=True)
class Buckets:
    """Consecutive buckets of local days given by their first days (trend weeks, months…)."""

    starts: tuple[dt.date, ...]
    tz: ZoneInfo

    @property
    def boundaries(self) -> tuple[dt.date, ...]:
        return self.starts[1:]

    def of_day(self, column: Column) -> ColumnElement[int]:
        return bucket_of(column, self.boundaries)

    def of_instant(self, column: Column) -> ColumnElement[int]:
        return bucket_of(column, [local_midnight(d, self.tz) for d in self.boundaries])


def bucket_of(column: Column, edges: Sequence[Any]) -> ColumnElement[int]:
    """Index of the bucket a value falls in, given the ascending starts of buckets 1..n-1."""
    if not edges:
        return literal(0)
    return case(*[(column < edge, i) for i, edge in enumerate(edges)], else_=len(edges))


# --- the statements ---------------------------------------------------------------------------


def _count_true(column: Column) -> ColumnElement[int]:
    return func.sum(case((column.is_(True), 1), else_=0))


def _measure_columns(values: dict[str, ColumnElement], measures: Sequence[str]) -> list[Any]:
    """The requested measures in order; the ones a source does not have are 0 (or NULL)."""
    columns = []
    for name in measures:
        value = values.get(name)
        if value is None:
            value = cast(null(), UTCDateTime) if name == "last_award_at" else literal(0)
        columns.append(value.label(name))
    return columns


def _month_filter(column: Column, runs: Sequence[tuple[dt.date, dt.date]]) -> Any:
    return or_(*[column.between(a, b) for a, b in runs])


def _member_parts(
    cover_: Cover,
    tz: ZoneInfo,
    measures: Sequence[str],
    *,
    buckets: Buckets | None,
    by_member: bool,
    members: Sequence[int] | None,
) -> list[Select]:
    """One SELECT per source and range, all with the same columns: [member_id] [b] measures."""
    wanted = set(measures)
    parts: list[Select] = []

    def keys(member_col: Column, bucket: ColumnElement[int] | None) -> list[Any]:
        out: list[Any] = []
        if by_member:
            out.append(member_col.label("member_id"))
        if buckets is not None and bucket is not None:
            out.append(bucket.label("b"))
        return out

    def restrict(query: Select, member_col: Column) -> Select:
        return query.where(member_col.in_(members)) if members is not None else query

    if cover_.months:
        m = MemberMonth
        values = {name: getattr(m, name) for name in MEASURES}
        query = select(
            *keys(m.member_id, buckets.of_day(m.month) if buckets else None),
            *_measure_columns(values, measures),
        ).where(_month_filter(m.month, cover_.months))
        parts.append(restrict(query, m.member_id))

    for first, last in cover_.raw:
        start, end = local_midnight(first, tz), local_midnight(last + dt.timedelta(days=1), tz)
        sources: list[tuple[set[str], Column, ColumnElement[int] | None, Select]] = []
        if wanted & {"points", "last_award_at"}:
            le = LedgerEntry
            sources.append(
                (
                    {"points", "last_award_at"},
                    le.member_id,
                    buckets.of_day(le.local_day) if buckets else None,
                    select().where(le.local_day >= first, le.local_day <= last),
                )
            )
        if wanted & {"answers", "correct"}:
            sources.append(
                (
                    {"answers", "correct"},
                    Answer.member_id,
                    buckets.of_instant(Answer.answered_at) if buckets else None,
                    select().where(between(Answer.answered_at, start, end)),
                )
            )
        if "reads" in wanted:
            sources.append(
                (
                    {"reads"},
                    MaterialRead.member_id,
                    buckets.of_instant(MaterialRead.read_at) if buckets else None,
                    select().where(between(MaterialRead.read_at, start, end)),
                )
            )
        if "quizzes" in wanted:
            sources.append(
                (
                    {"quizzes"},
                    QuizAttempt.member_id,
                    buckets.of_instant(QuizAttempt.finished_at) if buckets else None,
                    select().where(
                        QuizAttempt.status == "finished",
                        between(QuizAttempt.finished_at, start, end),
                    ),
                )
            )
        for provides, member_col, bucket, base in sources:
            values = _raw_values(provides)
            key_columns = keys(member_col, bucket)
            query = base.add_columns(*key_columns, *_measure_columns(values, measures))
            query = query.group_by(*key_columns) if key_columns else query
            parts.append(restrict(query, member_col))
    return parts


def _raw_values(provides: set[str]) -> dict[str, ColumnElement]:
    if "points" in provides:
        return {
            "points": func.sum(LedgerEntry.delta),
            "last_award_at": func.max(LedgerEntry.created_at),
        }
    if "answers" in provides:
        return {"answers": func.count(), "correct": _count_true(Answer.correct)}
    if "reads" in provides:
        return {"reads": func.count()}
    return {"quizzes": func.count()}


def member_rows(
    cover_: Cover,
    tz: ZoneInfo,
    measures: Sequence[str] = MEASURES,
    *,
    buckets: Buckets | None = None,
    by_member: bool = True,
    members: Sequence[int] | None = None,
) -> Select | None:
    """Totals of ``measures`` per member (and/or per bucket) over the covered days, summed
    from the rollups and the raw rows in one statement; None when nothing is to be read."""
    parts = _member_parts(
        cover_, tz, measures, buckets=buckets, by_member=by_member, members=members
    )
    if not parts:
        return None
    rows = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("rows")
    keys = ([rows.c.member_id] if by_member else []) + ([rows.c.b] if buckets else [])
    totals = [
        (func.max if name == "last_award_at" else func.sum)(rows.c[name]).label(name)
        for name in measures
    ]
    query = select(*keys, *totals)
    return query.group_by(*keys) if keys else query


@dataclass
class MemberTotals:
    """A member's (or a bucket's) activity over a range of days."""

    points: int = 0
    last_award_at: dt.datetime | None = None
    answers: int = 0
    correct: int = 0
    reads: int = 0
    quizzes: int = 0


def _totals(values: dict[str, Any]) -> MemberTotals:
    out = MemberTotals()
    for name, value in values.items():
        if name == "last_award_at":
            out.last_award_at = aware(value)
        else:
            setattr(out, name, int(value or 0))
    return out


async def member_totals(
    session: AsyncSession,
    tz: ZoneInfo,
    cover_: Cover,
    measures: Sequence[str] = MEASURES,
    *,
    members: Sequence[int] | None = None,
) -> dict[int, MemberTotals]:
    """member id → totals, for members with any row in the covered days."""
    query = member_rows(cover_, tz, measures, members=members)
    if query is None:
        return {}
    return {
        row[0]: _totals(dict(zip(measures, row[1:], strict=True)))
        for row in await session.execute(query)
    }


async def bucket_totals(
    session: AsyncSession,
    tz: ZoneInfo,
    cover_: Cover,
    buckets: Buckets,
    measures: Sequence[str] = ("points", "answers", "correct", "reads", "quizzes"),
) -> list[MemberTotals]:
    """Totals per bucket (index = position in ``buckets.starts``)."""
    result = [MemberTotals() for _ in buckets.starts]
    query = member_rows(cover_, tz, measures, buckets=buckets, by_member=False)
    if query is None:
        return result
    for row in await session.execute(query):
        result[row[0]] = _totals(dict(zip(measures, row[1:], strict=True)))
    return result


def active_pairs(cover_: Cover, tz: ZoneInfo, buckets: Buckets) -> list[Select]:
    """(b, member_id) of members with an answer or a confirmed read, per bucket."""
    parts: list[Select] = []
    if cover_.months:
        m = MemberMonth
        parts.append(
            select(buckets.of_day(m.month).label("b"), m.member_id.label("member_id")).where(
                _month_filter(m.month, cover_.months), (m.answers > 0) | (m.reads > 0)
            )
        )
    for first, last in cover_.raw:
        start, end = local_midnight(first, tz), local_midnight(last + dt.timedelta(days=1), tz)
        for at, member in (
            (Answer.answered_at, Answer.member_id),
            (MaterialRead.read_at, MaterialRead.member_id),
        ):
            parts.append(
                select(buckets.of_instant(at).label("b"), member.label("member_id")).where(
                    between(at, start, end)
                )
            )
    return parts


async def question_totals(
    session: AsyncSession, tz: ZoneInfo, cover_: Cover
) -> dict[int, tuple[int, int]]:
    """question id → (answers, correct answers) over the covered days."""
    rows = question_rows(cover_, tz)
    if rows is None:
        return {}
    return {q: (int(n), int(c or 0)) for q, n, c in await session.execute(rows)}


def question_rows(cover_: Cover, tz: ZoneInfo) -> Select | None:
    """SELECT question_id, answers, correct: rollups and raw answers summed in one statement."""
    parts: list[Select] = []
    if cover_.months:
        q = QuestionMonth
        parts.append(
            select(
                q.question_id.label("question_id"),
                q.answers.label("answers"),
                q.correct.label("correct"),
            ).where(_month_filter(q.month, cover_.months))
        )
    for first, last in cover_.raw:
        start, end = local_midnight(first, tz), local_midnight(last + dt.timedelta(days=1), tz)
        parts.append(
            select(
                Answer.question_id.label("question_id"),
                func.count().label("answers"),
                _count_true(Answer.correct).label("correct"),
            )
            .where(between(Answer.answered_at, start, end))
            .group_by(Answer.question_id)
        )
    if not parts:
        return None
    rows = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("qrows")
    return select(
        rows.c.question_id,
        func.sum(rows.c.answers).label("answers"),
        func.sum(rows.c.correct).label("correct"),
    ).group_by(rows.c.question_id)


def aware(value: dt.datetime | str | None) -> dt.datetime | None:
    """An aware UTC datetime from what an aggregate returns (SQLite may give plain text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is dt.UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


# --- keeping the rollups up to date ---------------------------------------------------------


async def refresh(
    session: AsyncSession, tz: ZoneInfo, now: dt.datetime | None = None
) -> dt.date | None:
    """Roll up the months closed since the last refresh; return the last day rolled up.

    The work is committed in a transaction of its own whenever the database allows it, so
    read-only callers (who never commit) leave it done for the next ones: always when the
    caller's session has not begun a transaction, and always on PostgreSQL (without waiting
    for a lock the caller or another refresher holds: the months not rolled up yet are then
    read raw). On SQLite a transaction already begun holds the only writer lock, so the work
    is part of the caller's transaction. Inside ``raw_only()`` nothing is read or written.
    """
    if not _use_rollups.get():
        return None
    target = closed_through(tz, now or utcnow())
    bind = session.bind
    if isinstance(bind, AsyncEngine) and not session.in_transaction():
        async with AsyncSession(bind, expire_on_commit=False) as own, own.begin():
            return await _refresh(own, tz, target, wait=True)
    current = await _current(session)
    if _fresh(current, tz, target):
        return current[0] if current else None
    if isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql":
        async with AsyncSession(bind, expire_on_commit=False) as own, own.begin():
            done = await _refresh(own, tz, target, wait=False)
        if done is not None:
            return done
        current = await _current(session)
        return current[0] if current and current[1] == tz.key else None
    return await _refresh(session, tz, target, wait=True)


async def _current(session: AsyncSession) -> tuple[dt.date | None, str | None] | None:
    row = (
        await session.execute(
            select(RollupState.through, RollupState.timezone).where(RollupState.name == STATE)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


def _fresh(
    current: tuple[dt.date | None, str | None] | None, tz: ZoneInfo, target: dt.date
) -> bool:
    return (
        current is not None
        and current[1] == tz.key
        and current[0] is not None
        and current[0] >= target
    )


async def _refresh(
    session: AsyncSession, tz: ZoneInfo, target: dt.date, *, wait: bool
) -> dt.date | None:
    """Bring the rollups up to ``target``; None if ``wait`` is False and the state is locked."""
    current = await _current(session)
    if _fresh(current, tz, target):
        return current[0] if current else None
    locked = await _lock_state(session, create_with=tz.key, wait=wait)
    if locked is None:
        return None
    through, zone = locked
    if zone != tz.key:
        # Local days of timestamps moved with the zone: nothing rolled up still holds.
        await session.execute(delete(MemberMonth))
        await session.execute(delete(QuestionMonth))
        through = None
    elif through is not None and through >= target:
        return through  # done meanwhile by another transaction
    month = next_month(through) if through is not None else await _first_month(session, tz)
    while month is not None and month_end(month) <= target:
        await _roll_month(session, tz, month)
        month = next_month(month)
    await session.execute(
        update(RollupState)
        .where(RollupState.name == STATE)
        .values(through=target, timezone=tz.key, updated_at=utcnow())
    )
    return target


async def _lock_state(
    session: AsyncSession, *, create_with: str | None, wait: bool = True
) -> tuple[dt.date | None, str | None] | None:
    """The state row, locked until the end of the transaction (PostgreSQL; SQLite's writer
    lock is already held), so concurrent refreshers queue and the later one finds it done.
    None when there is no row, or when ``wait`` is False and another transaction holds it."""
    if create_with is not None:
        await insert_or_ignore(
            session,
            RollupState,
            {"name": STATE, "through": None, "timezone": create_with, "updated_at": utcnow()},
        )
    row = (
        await session.execute(
            select(RollupState.through, RollupState.timezone)
            .where(RollupState.name == STATE)
            .with_for_update(skip_locked=not wait)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def _first_month(session: AsyncSession, tz: ZoneInfo) -> dt.date | None:
    """The month of the earliest row any rollup is made of (None: no rows at all)."""
    days: list[dt.date] = []
    first_day = await session.scalar(select(func.min(LedgerEntry.local_day)))
    if first_day is not None:
        days.append(
            first_day if isinstance(first_day, dt.date) else dt.date.fromisoformat(first_day)
        )
    for column in (Answer.answered_at, MaterialRead.read_at, QuizAttempt.finished_at):
        first_at = aware(await session.scalar(select(func.min(column))))
        if first_at is not None:
            days.append(first_at.astimezone(tz).date())
    return min(days).replace(day=1) if days else None


async def _roll_month(session: AsyncSession, tz: ZoneInfo, month: dt.date) -> None:
    """(Re)write one month's rollup rows from the raw tables."""
    await session.execute(delete(MemberMonth).where(MemberMonth.month == month))
    await session.execute(delete(QuestionMonth).where(QuestionMonth.month == month))
    raw = Cover(month, month_end(month), (), ((month, month_end(month)),))
    members = member_rows(raw, tz, MEASURES)
    questions = question_rows(raw, tz)
    assert members is not None and questions is not None
    m = members.subquery()
    await session.execute(
        insert(MemberMonth).from_select(
            ["member_id", "month", *MEASURES],
            select(m.c.member_id, literal(month, Date), *[m.c[name] for name in MEASURES]),
        )
    )
    q = questions.subquery()
    await session.execute(
        insert(QuestionMonth).from_select(
            ["month", "question_id", "answers", "correct"],
            select(literal(month, Date), q.c.question_id, q.c.answers, q.c.correct),
        )
    )


async def invalidate_rollups(session: AsyncSession, first_day: dt.date, last_day: dt.date) -> None:
    """Rebuild the rolled-up months that ``first_day``..``last_day`` touches, from the raw rows
    as the caller's transaction sees them: for writers of past days (the demo, benchmark
    generators, imports of history). Days not rolled up yet need nothing."""
    if last_day < first_day:
        raise ValueError(f"{last_day} is before {first_day}")
    locked = await _lock_state(session, create_with=None)
    if locked is None:
        return
    through, zone = locked
    if through is None or zone is None:
        return
    tz = ZoneInfo(zone)
    month = first_day.replace(day=1)
    while month <= min(last_day, through):
        await _roll_month(session, tz, month)
        month = next_month(month)
