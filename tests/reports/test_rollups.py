"""Rollups change no figure: every figure and ranking read through the rollups equals the one
read from the raw tables, for periods cut anywhere (mid-month, today included), after new
history is written and invalidated, and after a time zone change. Also: how a period is split,
when a month counts as closed, where the refresh is committed, and the migration."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.core.periods import Period, custom_period, parse_period
from bot.db.engine import create_engine
from bot.db.migrate import alembic_config, upgrade
from bot.points.leaderboard import (
    department_leaderboard,
    member_line,
    member_rank,
    person_leaderboard,
)
from bot.reports.demo import build_demo
from bot.reports.figures import compute_figures
from bot.reports.rollups import (
    SETTLE,
    closed_through,
    cover,
    invalidate_rollups,
    month_end,
    next_month,
    raw_only,
    refresh,
)
from tests import dbutil
from tests.conftest import make_config
from tests.reports.history import TZ, History

# 10:00 on 15 December 2026 in Shanghai: July to November are closed months.
NOW = dt.datetime(2026, 12, 15, 2, 0, tzinfo=dt.UTC)
TODAY = NOW.astimezone(TZ).date()
FIRST = dt.date(2026, 7, 20)
SEASONS = [("秋季赛", dt.date(2026, 9, 1), dt.date(2026, 12, 31))]

PERIODS: list[Period] = [
    parse_period("2026", TODAY),
    parse_period("2026-Q4", TODAY),
    parse_period("2026-11", TODAY),
    parse_period("week", TODAY),
    parse_period("today", TODAY),
    parse_period("season", TODAY, seasons=SEASONS),
    parse_period("all", TODAY),
    custom_period(dt.date(2026, 9, 17), dt.date(2026, 11, 8)),
    custom_period(dt.date(2026, 8, 1), TODAY),
    custom_period(dt.date(2026, 10, 31), dt.date(2026, 12, 1)),
]


async def everything(db: Any, config: Any, now: dt.datetime = NOW) -> list[tuple[str, Any]]:
    """Every figure and ranking of every period, labelled for a readable failure."""
    out: list[tuple[str, Any]] = []
    async with db() as session:
        members = [m for m, _a in await session.execute(select_members())]
    async with db() as session:
        for period in PERIODS:
            key = period.key
            figures = await compute_figures(session, config, period, now=now)
            out.append((f"{key} figures", figures))
            out.append(
                (f"{key} people", await person_leaderboard(session, config, period, now=now))
            )
            out.append(
                (
                    f"{key} top 3",
                    await person_leaderboard(session, config, period, limit=3, now=now),
                )
            )
            out.append(
                (
                    f"{key} office",
                    await person_leaderboard(
                        session, config, period, department="办公室", limit=5, now=now
                    ),
                )
            )
            out.append(
                (
                    f"{key} departments",
                    await department_leaderboard(session, config, period, now=now),
                )
            )
            for member_id in members[:8]:
                out.append(
                    (
                        f"{key} rank of {member_id}",
                        (
                            await member_rank(session, config, member_id, period, now=now),
                            await member_line(session, config, member_id, period, now=now),
                        ),
                    )
                )
    return out


def select_members() -> Any:
    from bot.db.models import Member

    return select(Member.id, Member.active).order_by(Member.id)


async def assert_rollups_agree(db: Any, config: Any, now: dt.datetime = NOW) -> None:
    rolled = await everything(db, config, now)
    with raw_only():
        raw = await everything(db, config, now)
    for (label, got), (_label, expected) in zip(rolled, raw, strict=True):
        assert got == expected, label


def state(url: str) -> tuple[Any, ...] | None:
    rows = dbutil.query(url, "SELECT through, timezone FROM rollup_state")
    if not rows:
        return None
    through, zone = rows[0]
    return (dt.date.fromisoformat(through) if isinstance(through, str) else through), zone


def rolled_months(url: str) -> list[dt.date]:
    rows = dbutil.query(url, "SELECT DISTINCT month FROM rollup_member_months ORDER BY month")
    return [dt.date.fromisoformat(m) if isinstance(m, str) else m for (m,) in rows]


async def write_history(db: Any, seed: int, rows: int = 400) -> History:
    history = History(seed, FIRST, NOW)
    async with db.begin() as session:
        await history.setup(session)
        await history.write(session, rows)
    return history


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_rollups_give_the_raw_figures(db, database_url, seed) -> None:
    await write_history(db, seed)
    config = make_config(database_url)
    await assert_rollups_agree(db, config)
    assert state(database_url) == (dt.date(2026, 11, 30), "Asia/Shanghai")
    assert rolled_months(database_url) == [
        dt.date(2026, 7, 1),
        dt.date(2026, 8, 1),
        dt.date(2026, 9, 1),
        dt.date(2026, 10, 1),
        dt.date(2026, 11, 1),
    ]


async def test_new_rows_of_today_need_nothing(db, database_url) -> None:
    history = await write_history(db, 4)
    config = make_config(database_url)
    await assert_rollups_agree(db, config)
    async with db.begin() as session:
        await history.write(session, 120, first=dt.date(2026, 12, 1), last=TODAY)
    await assert_rollups_agree(db, config)


async def test_history_written_later_is_invalidated(db, database_url) -> None:
    history = await write_history(db, 5)
    config = make_config(database_url)
    period = parse_period("2026", TODAY)
    async with db() as session:
        before = await compute_figures(session, config, period, now=NOW)
    async with db.begin() as session:
        await history.write(session, 200, first=dt.date(2026, 9, 10), last=dt.date(2026, 10, 20))
    async with db() as session:
        stale = await compute_figures(session, config, period, now=NOW)
    with raw_only():
        async with db() as session:
            fresh = await compute_figures(session, config, period, now=NOW)
    # The contract: closed months are not summed again unless their writer says so.
    assert stale.unit.points == before.unit.points != fresh.unit.points
    assert stale.unit.answers == before.unit.answers != fresh.unit.answers
    async with db.begin() as session:
        await invalidate_rollups(session, dt.date(2026, 9, 10), dt.date(2026, 10, 20))
    await assert_rollups_agree(db, config)


async def test_months_roll_up_once_settled(db, database_url) -> None:
    await write_history(db, 6)
    config = make_config(database_url)
    # 23:00 on 2 December in Shanghai: November ended less than SETTLE ago.
    early = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC)
    await assert_rollups_agree(db, config, early)
    assert state(database_url) == (dt.date(2026, 10, 31), "Asia/Shanghai")
    await assert_rollups_agree(db, config, early + dt.timedelta(hours=2))
    assert state(database_url) == (dt.date(2026, 11, 30), "Asia/Shanghai")
    assert rolled_months(database_url)[-1] == dt.date(2026, 11, 1)


async def test_a_new_time_zone_rebuilds(db, database_url) -> None:
    await write_history(db, 7)
    await assert_rollups_agree(db, make_config(database_url))
    utc = make_config(database_url, timezone="UTC")
    await assert_rollups_agree(db, utc)
    assert state(database_url) == (dt.date(2026, 11, 30), "UTC")


async def test_refresh_is_committed_for_read_only_callers(db, database_url, config) -> None:
    await write_history(db, 8, rows=60)
    async with db() as session:  # never committed by the caller
        await person_leaderboard(session, config, PERIODS[0], now=NOW)
    assert state(database_url) == (dt.date(2026, 11, 30), "Asia/Shanghai")


async def test_refresh_inside_a_transaction(db, database_url, config) -> None:
    await write_history(db, 9, rows=60)
    async with db() as session:
        await session.execute(select(1))  # the caller's transaction has begun
        await person_leaderboard(session, config, PERIODS[0], now=NOW)
        assert (await session.execute(select_state())).scalar() == dt.date(2026, 11, 30)
        await session.rollback()
    if dbutil.pg_server_url():
        # Committed on a connection of its own: done for the next callers.
        assert state(database_url) == (dt.date(2026, 11, 30), "Asia/Shanghai")
    else:
        # SQLite's one writer lock is the caller's: the work went with its rollback.
        assert state(database_url) is None
        assert rolled_months(database_url) == []


async def test_reading_after_invalidating_in_one_transaction(db, database_url, config) -> None:
    history = await write_history(db, 11, rows=150)
    async with db() as session:
        await refresh(session, config.tz, NOW)
    period = parse_period("2026", TODAY)
    async with db.begin() as session:
        await history.write(session, 100, first=dt.date(2026, 8, 3), last=dt.date(2026, 8, 30))
        await invalidate_rollups(session, dt.date(2026, 8, 3), dt.date(2026, 8, 30))
        # The state row is locked by this transaction: reading must neither wait nor differ.
        rolled = await compute_figures(session, config, period, now=NOW)
        with raw_only():
            raw = await compute_figures(session, config, period, now=NOW)
    assert rolled == raw


def select_state() -> Any:
    from bot.db.models import RollupState

    return select(RollupState.through)


async def test_concurrent_refreshes_do_not_collide(db, database_url, config) -> None:
    await write_history(db, 10, rows=200)

    async def board() -> Any:
        async with db() as session:
            return await person_leaderboard(session, config, PERIODS[0], now=NOW)

    first, second = await asyncio.gather(board(), board())
    assert first == second
    with raw_only():
        assert await board() == first


async def test_invalidation_refusals_and_no_ops(db, database_url) -> None:
    async with db.begin() as session:
        with pytest.raises(ValueError):
            await invalidate_rollups(session, dt.date(2026, 5, 2), dt.date(2026, 5, 1))
        await invalidate_rollups(session, dt.date(2026, 5, 1), dt.date(2026, 5, 31))
    assert state(database_url) is None
    async with db() as session:
        assert await refresh(session, TZ, NOW) == dt.date(2026, 11, 30)
        with raw_only():
            assert await refresh(session, TZ, NOW) is None
    # Nothing to roll up in an empty database, but the months count as done.
    assert state(database_url) == (dt.date(2026, 11, 30), "Asia/Shanghai")
    assert rolled_months(database_url) == []


async def test_demo_history_is_rolled_up_again(db, database_url) -> None:
    config = make_config(database_url)
    async with db() as session:
        await refresh(session, config.tz, NOW)  # months closed before the demo wrote them
    async with db.begin() as session:
        await build_demo(
            session,
            config,
            members=12,
            days=80,
            quizzes=Path(__file__).resolve().parents[2] / "quizzes",
            today=TODAY,
        )
    period = custom_period(TODAY - dt.timedelta(days=79), TODAY)
    async with db() as session:
        rolled = await compute_figures(session, config, period, now=NOW)
    with raw_only():
        async with db() as session:
            raw = await compute_figures(session, config, period, now=NOW)
    assert rolled == raw and rolled.unit.answers > 0
    assert dt.date(2026, 10, 1) in rolled_months(database_url)


# --- splitting a period (pure) ------------------------------------------------------------


def test_closed_through() -> None:
    end_of_november = dt.datetime(2026, 12, 1, tzinfo=TZ).astimezone(dt.UTC)
    assert closed_through(TZ, end_of_november + SETTLE) == dt.date(2026, 11, 30)
    assert closed_through(TZ, end_of_november + SETTLE - dt.timedelta(seconds=1)) == dt.date(
        2026, 10, 31
    )
    assert closed_through(TZ, NOW) == dt.date(2026, 11, 30)


def test_cover_of_a_year_and_of_edges() -> None:
    year = cover(dt.date(2026, 1, 1), dt.date(2026, 12, 31), dt.date(2026, 11, 30))
    assert year.months == ((dt.date(2026, 1, 1), dt.date(2026, 11, 1)),)
    assert year.raw == ((dt.date(2026, 12, 1), dt.date(2026, 12, 31)),)
    edges = cover(dt.date(2026, 1, 15), dt.date(2026, 6, 10), dt.date(2026, 11, 30))
    assert edges.months == ((dt.date(2026, 2, 1), dt.date(2026, 5, 1)),)
    assert edges.raw == (
        (dt.date(2026, 1, 15), dt.date(2026, 1, 31)),
        (dt.date(2026, 6, 1), dt.date(2026, 6, 10)),
    )
    assert cover(dt.date(2026, 1, 1), dt.date(2026, 3, 31), None).raw == (
        (dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
    )
    # A bucket boundary inside a month keeps that month raw.
    split = cover(
        dt.date(2026, 1, 1), dt.date(2026, 3, 31), dt.date(2026, 3, 31), [dt.date(2026, 2, 9)]
    )
    assert split.months == (
        (dt.date(2026, 1, 1), dt.date(2026, 1, 1)),
        (dt.date(2026, 3, 1), dt.date(2026, 3, 1)),
    )
    assert split.raw == ((dt.date(2026, 2, 1), dt.date(2026, 2, 28)),)


days = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 12, 31))


@given(days, st.integers(0, 500), st.one_of(st.none(), days), st.lists(days, max_size=6))
def test_cover_partitions_the_range(first, length, through_day, boundaries) -> None:
    last = first + dt.timedelta(days=length)
    through = month_end(through_day) if through_day else None
    split = cover(first, last, through, sorted(boundaries))
    covered: list[dt.date] = []
    pieces = [(a, month_end(b)) for a, b in split.months] + list(split.raw)
    for a, b in sorted(pieces):
        covered += [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]
    assert covered == [first + dt.timedelta(days=i) for i in range(length + 1)]
    for a, b in split.months:
        month = a
        while month <= b:
            assert month.day == 1 and through is not None and month_end(month) <= through
            assert not any(month < x <= month_end(month) for x in boundaries)
            month = next_month(month)


# --- the migration ------------------------------------------------------------------------


def test_migration_round_trip(tmp_path) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from bot.db.models import Base

    server = dbutil.pg_server_url()
    url = (
        dbutil.create_pg_database(server)
        if server
        else f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    )
    mine = {"rollup_state", "rollup_member_months", "rollup_question_months"}

    def differences(connection: Any) -> list[Any]:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        return [d for d in diffs if _concerns(d, mine | {"ix_answers_live_answered"})]

    def downgrade(connection: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0002_report_indexes")

    def tables(connection: Any) -> set[str]:
        from sqlalchemy import inspect

        return set(inspect(connection).get_table_names())

    async def run() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
            async with engine.connect() as conn:
                assert mine <= await conn.run_sync(tables)
                assert await conn.run_sync(differences) == []
            async with engine.begin() as conn:
                await conn.run_sync(downgrade)
            async with engine.connect() as conn:
                assert not mine & await conn.run_sync(tables)
            await upgrade(engine)
            async with engine.connect() as conn:
                assert mine <= await conn.run_sync(tables)
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    finally:
        if server:
            dbutil.drop_pg_database(server, url)


def _concerns(diff: Any, names: set[str]) -> bool:
    """Whether an alembic difference names one of ``names`` (a table or an index)."""
    items = diff if isinstance(diff, list) else [diff]
    for item in items:
        for part in item[1:] if isinstance(item, tuple) else []:
            name = getattr(part, "name", None)
            table = getattr(getattr(part, "table", None), "name", None)
            if name in names or table in names or part in names:
                return True
    return False
