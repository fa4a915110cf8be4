"""The end-of-quiz summary: the attempt's figures and the member's point totals."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.db.models import Bank, LedgerEntry, QuizAttempt
from bot.db.types import utcnow
from bot.quiz.views import Summary


async def point_totals(
    session: AsyncSession, config: Config, member_id: int, today: dt.date
) -> tuple[int, int | None, int]:
    """(today, current season or None, all time) in one query."""
    season = config.season_for(today)
    delta = LedgerEntry.delta
    season_sum: Any
    if season is not None:
        in_season = (LedgerEntry.local_day >= season.from_) & (LedgerEntry.local_day <= season.to)
        season_sum = func.coalesce(func.sum(case((in_season, delta), else_=0)), 0)
    else:
        season_sum = func.coalesce(func.sum(0), 0)
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(case((LedgerEntry.local_day == today, delta), else_=0)), 0),
                season_sum,
                func.coalesce(func.sum(delta), 0),
            ).where(LedgerEntry.member_id == member_id)
        )
    ).one()
    return int(row[0]), (int(row[1]) if season is not None else None), int(row[2])


async def summary_of(
    session: AsyncSession,
    config: Config,
    *,
    member_id: int,
    mode: str,
    questions: int,
    correct: int,
    points: int,
    bank_id: int | None,
    now: dt.datetime | None = None,
) -> Summary:
    now = now or utcnow()
    today = now.astimezone(config.tz).date()
    today_points, season_points, total = await point_totals(session, config, member_id, today)
    season = config.season_for(today)
    bank_title = None
    if bank_id is not None:
        row = (
            await session.execute(select(Bank.title, Bank.campaign_title).where(Bank.id == bank_id))
        ).first()
        if row is not None:
            bank_title = row[1] or row[0]
    return Summary(
        mode=mode,
        questions=questions,
        correct=correct,
        points=points,
        today_points=today_points,
        season_name=season.name if season else None,
        season_points=season_points,
        total_points=total,
        bank_title=bank_title,
    )


def questions_asked(mode: str, total: int | None, current_position: int) -> int:
    """How many questions an attempt has asked (the open-ended challenge counts its own)."""
    if mode == "challenge":
        return max(0, current_position - 1)
    return total or 0


async def summarise(
    session: AsyncSession, config: Config, attempt: QuizAttempt, *, now: dt.datetime | None = None
) -> Summary:
    return await summary_of(
        session,
        config,
        member_id=attempt.member_id,
        mode=attempt.mode,
        questions=questions_asked(attempt.mode, attempt.total, attempt.current_position),
        correct=attempt.correct_count,
        points=attempt.points,
        bank_id=attempt.bank_id,
        now=now,
    )
