"""Service coroutines run in one step on the session's synchronous side."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.inline import run_inline
from bot.db.models import Department, Member
from bot.members.service import load_actor
from tests import factories


async def test_a_service_runs_inline_with_the_same_effects(
    db: async_sessionmaker[AsyncSession], config
) -> None:
    async def work(session: AsyncSession) -> tuple[int, str | None]:
        member = await factories.member(session, "张三", dept="办公室", telegram_id=4242)
        await session.flush()
        actor = await load_actor(session, config, 4242, "en")
        assert actor.member_id == member.id
        count = await session.scalar(select(func.count()).select_from(Member))
        return int(count or 0), actor.department

    async with db.begin() as session:
        assert await run_inline(session, work) == (1, "办公室")
    async with db() as session:  # committed by the caller's transaction
        assert await session.scalar(select(Member.language).where(Member.telegram_id == 4242))
        assert await session.scalar(select(func.count()).select_from(Department)) == 1


async def test_a_service_that_waits_for_anything_else_fails_and_changes_nothing(
    db: async_sessionmaker[AsyncSession],
) -> None:
    async def work(session: AsyncSession) -> None:
        await factories.member(session, "李四", telegram_id=4343)
        await session.flush()
        await asyncio.sleep(0)  # not a statement: cannot complete in one step

    with pytest.raises(RuntimeError, match="awaited something other than its session"):
        async with db.begin() as session:
            await run_inline(session, work)
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Member)) == 0
