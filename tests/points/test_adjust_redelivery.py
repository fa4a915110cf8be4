"""A chat adjustment delivered twice (a redelivered update) adjusts and is audited once."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from bot.db.models import AuditEntry, LedgerEntry
from bot.points.ledger import adjust
from tests import factories


async def test_same_request_adjusts_once(
    db: async_sessionmaker[AsyncSession], config: Config
) -> None:
    async with db.begin() as session:
        member = await factories.member(session, "张三")
    for _ in range(2):
        async with db.begin() as session:
            await adjust(
                session,
                member_id=member.id,
                delta=5,
                reason="补录",
                actor_telegram_id=9001,
                tz=config.tz,
                reference="msg:9001:42",
            )
    async with db.begin() as session:
        await adjust(
            session,
            member_id=member.id,
            delta=5,
            reason="补录",
            actor_telegram_id=9001,
            tz=config.tz,
        )
    async with db() as session:
        rows = await session.scalar(select(func.count()).select_from(LedgerEntry))
        audits = await session.scalar(select(func.count()).select_from(AuditEntry))
    assert (rows, audits) == (2, 2)
