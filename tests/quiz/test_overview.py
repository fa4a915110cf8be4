"""/me figures: points today, this season and in total, rank, streak, accuracy."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.config import Config
from bot.members.service import daily_checkin
from bot.points.ledger import award
from bot.quiz.overview import member_overview
from tests import factories
from tests.conftest import make_config
from tests.quiz.test_service import NOW, answer, start


async def test_overview_of_a_member(db: Any, config: Config) -> None:
    async with db.begin() as session:
        member = await factories.member(session, "张三", telegram_id=5001)
        other = await factories.member(session, "李四", telegram_id=5002)
        await factories.bank(session)
        for days in (2, 1, 0):
            await daily_checkin(session, config, member.id, now=NOW - dt.timedelta(days=days))
        await award(
            session,
            member_id=other.id,
            kind="adjust",
            reference="r1",
            points=50,
            tz=config.tz,
            now=NOW,
        )
        await award(
            session,
            member_id=member.id,
            kind="adjust",
            reference="old",
            points=7,
            tz=config.tz,
            now=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        )
    view = (await start(db, config, member.id)).question
    while view is not None:
        view = (await answer(db, config, member.id, view, view.position != 2)).next_question
    async with db() as session:
        overview = await member_overview(session, config, member.id, now=NOW)
    assert overview.today_points == 1 + 4
    assert overview.season_points == 3 + 4  # check-ins on three days + the quiz
    assert overview.total_points == 3 + 4 + 7
    assert overview.season_name == "2026 秋季赛"
    assert (overview.rank, overview.ranked, overview.show_rank) == (2, 2, True)
    assert overview.streak == 3
    assert (overview.answered, overview.correct) == (5, 4)
    assert overview.accuracy == 0.8
    assert overview.notebook == 1


async def test_ranks_hidden_when_staff_view_is_off(db: Any, database_url: str) -> None:
    config = make_config(database_url, leaderboard={"staff_view": "off"})
    async with db.begin() as session:
        member = await factories.member(session, "张三", telegram_id=5001)
    async with db() as session:
        overview = await member_overview(session, config, member.id, now=NOW)
    assert not overview.show_rank and overview.rank is None
    assert overview.accuracy is None and overview.total_points == 0
