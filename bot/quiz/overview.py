"""What /me shows a member: points today, this season and in total, rank, streak, accuracy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.core.periods import parse_period
from bot.core.scoring import accuracy
from bot.db.models import Answer
from bot.db.types import utcnow
from bot.members.service import current_streak
from bot.points.leaderboard import member_rank
from bot.points.ledger import total_points
from bot.quiz import review
from bot.quiz.service import point_totals


@dataclass(frozen=True)
class Overview:
    today_points: int
    season_name: str
    season_points: int
    total_points: int
    rank: int | None  # None: not ranked (no points this season) or ranks hidden
    ranked: int
    show_rank: bool
    streak: int
    answered: int
    correct: int
    notebook: int

    @property
    def accuracy(self) -> float | None:
        return accuracy(self.correct, self.answered)


async def member_overview(
    session: AsyncSession, config: Config, member_id: int, *, now: dt.datetime | None = None
) -> Overview:
    now = now or utcnow()
    today = now.astimezone(config.tz).date()
    seasons = [(s.name, s.from_, s.to) for s in config.points.seasons]
    season = parse_period("season", today, seasons=seasons)
    today_points, _in_season, total = await point_totals(session, config, member_id, today)
    season_points = (
        _in_season
        if _in_season is not None
        else await total_points(session, member_id, first_day=season.start, last_day=season.end)
    )
    show_rank = config.leaderboard.staff_view != "off"
    rank, ranked = (None, 0)
    if show_rank:
        rank, ranked = await member_rank(session, config, member_id, season)
    row = (
        await session.execute(
            select(
                func.count(Answer.id),
                func.coalesce(func.sum(case((Answer.correct.is_(True), 1), else_=0)), 0),
            ).where(Answer.member_id == member_id)
        )
    ).one()
    notebook, _next = await review.notebook(session, member_id)
    return Overview(
        today_points=today_points,
        season_name=season.label,
        season_points=season_points,
        total_points=total,
        rank=rank,
        ranked=ranked,
        show_rank=show_rank,
        streak=await current_streak(session, member_id, today),
        answered=int(row[0] or 0),
        correct=int(row[1] or 0),
        notebook=notebook,
    )
