"""The invariants helper finds what it claims to find (and nothing on a consistent database)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from bot.members.service import daily_checkin
from bot.points.ledger import adjust, award
from tests import dbutil, factories
from tests.invariants import check_invariants


async def test_consistent_database_has_no_violations(
    db: async_sessionmaker[AsyncSession], database_url: str, config: Config
) -> None:
    async with db.begin() as session:
        zhang = await factories.member(session, "张三", telegram_id=5001)
        await daily_checkin(session, config, zhang.id)
        await adjust(
            session,
            member_id=zhang.id,
            delta=5,
            reason="补录",
            actor_telegram_id=9001,
            tz=config.tz,
        )
    assert check_invariants(database_url, config) == []


async def test_violations_are_reported(
    db: async_sessionmaker[AsyncSession], database_url: str, config: Config
) -> None:
    async with db.begin() as session:
        li = await factories.member(session, "李四", telegram_id=5002)
        # Awards that point at nothing: a quiz answer, a live round, a read, a discussion.
        for kind, reference in (
            ("daily_quiz", "aq:999"),
            ("live_quiz", "round:77"),
            ("material", "read:5:2026-11-01T08:00"),
            ("discussion", "12"),
            ("streak_bonus", "2026-11-01"),
            ("adjust", "manual"),
        ):
            await award(
                session, member_id=li.id, kind=kind, reference=reference, points=2, tz=config.tz
            )
        lid = li.id
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    dbutil.execute(
        database_url,
        "INSERT INTO points_ledger (member_id, delta, kind, reference, local_day, created_at) "
        "VALUES (:m, 1, 'checkin', :ref, :day, :now)",
        m=lid,
        ref=yesterday,
        day=dt.date.today() - dt.timedelta(days=3),
        now=dt.datetime.now(dt.UTC),
    )
    problems = "\n".join(check_invariants(database_url, config))
    for expected in (
        "no answer to attempt question aq:999",
        "no answer of this member in live round",
        "no recorded read of plan item",
        "not a counted participant of discussion",
        "no 7-day run of check-ins",
        "adjustment(s) of +2 but 0 audit",
        "a check-in for another day",
    ):
        assert expected in problems, problems
