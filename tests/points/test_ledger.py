"""The ledger: idempotent awards, caps, adjustments, totals — on the real database."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.db.models import AuditEntry, LedgerEntry
from bot.points.ledger import Cap, adjust, award, capped_points, total_points
from tests import factories

TZ = ZoneInfo("Asia/Shanghai")
NOON = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai


async def test_award_is_idempotent(db) -> None:
    async with db.begin() as session:
        m = await factories.member(session, "张三")
        first = await award(
            session, member_id=m.id, kind="material", reference="item-1", points=1, tz=TZ, now=NOON
        )
        second = await award(
            session, member_id=m.id, kind="material", reference="item-1", points=1, tz=TZ, now=NOON
        )
    assert (first.points, first.duplicate) == (1, False)
    assert (second.points, second.duplicate) == (0, True)
    async with db() as session:
        assert await total_points(session, m.id) == 1


async def test_concurrent_duplicate_awards_write_one_row(db) -> None:
    async with db.begin() as session:
        m = await factories.member(session, "李四")

    async def one() -> int:
        async with db.begin() as session:
            result = await award(
                session,
                member_id=m.id,
                kind="checkin",
                reference="2026-11-26",
                points=1,
                tz=TZ,
                now=NOON,
            )
            return result.points

    results = await asyncio.gather(*(one() for _ in range(8)))
    assert sum(results) == 1
    async with db() as session:
        rows = await session.scalar(select(func.count()).select_from(LedgerEntry))
    assert rows == 1


async def test_daily_cap_limits_and_resets_next_day(db) -> None:
    day = NOON.astimezone(TZ).date()
    async with db.begin() as session:
        m = await factories.member(session, "王五")
        got = []
        for i in range(8):
            r = await award(
                session,
                member_id=m.id,
                kind="material",
                reference=f"i{i}",
                points=1,
                tz=TZ,
                now=NOON,
                cap=Cap(6, day, day),
            )
            got.append(r.points)
        tomorrow = NOON + dt.timedelta(days=1)
        nxt = await award(
            session,
            member_id=m.id,
            kind="material",
            reference="i9",
            points=1,
            tz=TZ,
            now=tomorrow,
            cap=Cap(6, day + dt.timedelta(days=1), day + dt.timedelta(days=1)),
        )
    assert got == [1, 1, 1, 1, 1, 1, 0, 0]
    assert nxt.points == 1


async def test_partial_award_under_cap(db) -> None:
    day = NOON.astimezone(TZ).date()
    async with db.begin() as session:
        m = await factories.member(session, "赵六")
        await award(
            session,
            member_id=m.id,
            kind="challenge",
            reference="a",
            points=4,
            tz=TZ,
            now=NOON,
            cap=Cap(6, day, day),
        )
        r = await award(
            session,
            member_id=m.id,
            kind="challenge",
            reference="b",
            points=4,
            tz=TZ,
            now=NOON,
            cap=Cap(6, day, day),
        )
    assert (r.points, r.capped) == (2, True)


async def test_local_day_follows_the_time_zone(db) -> None:
    late_evening_utc = dt.datetime(
        2026, 11, 26, 17, 30, tzinfo=dt.UTC
    )  # 01:30 on the 27th in Shanghai
    async with db.begin() as session:
        m = await factories.member(session, "钱七")
        await award(
            session,
            member_id=m.id,
            kind="checkin",
            reference="x",
            points=1,
            tz=TZ,
            now=late_evening_utc,
        )
    async with db() as session:
        day = await session.scalar(select(LedgerEntry.local_day))
    assert day == dt.date(2026, 11, 27)


async def test_adjustment_is_audited_and_rejects_nonsense(db) -> None:
    async with db.begin() as session:
        m = await factories.member(session, "孙八")
        await adjust(
            session, member_id=m.id, delta=-3, reason="重复计分更正", actor_telegram_id=111, tz=TZ
        )
    async with db() as session:
        entry = await session.scalar(select(LedgerEntry))
        audit = await session.scalar(select(AuditEntry))
    assert (entry.delta, entry.kind, entry.reason, entry.actor_telegram_id) == (
        -3,
        "adjust",
        "重复计分更正",
        111,
    )
    assert audit.action == "points.adjust" and audit.detail["delta"] == -3
    async with db.begin() as session:
        with pytest.raises(ValueError):
            await adjust(session, member_id=m.id, delta=0, reason="x", actor_telegram_id=1, tz=TZ)
        with pytest.raises(ValueError):
            await adjust(session, member_id=m.id, delta=2, reason="  ", actor_telegram_id=1, tz=TZ)


async def test_unknown_kind_is_refused(db) -> None:
    async with db.begin() as session:
        m = await factories.member(session, "周九")
        with pytest.raises(ValueError):
            await award(session, member_id=m.id, kind="bogus", reference="r", points=1, tz=TZ)


@given(st.integers(-5, 20), st.integers(0, 30), st.integers(0, 30))
def test_capped_points_never_exceeds_the_cap(points: int, already: int, limit: int) -> None:
    granted = capped_points(points, already, limit)
    if points <= 0:
        assert granted == points
    else:
        assert 0 <= granted <= points
        assert already + granted <= max(limit, already)
