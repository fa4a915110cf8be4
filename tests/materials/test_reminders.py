"""The evening nudge: who gets it, once a day, and /remind off."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.db.models import Delivery, MaterialRead, Member, PlanItem, QuizAttempt, ReminderSent
from bot.materials.reminders import (
    nudge_text,
    nudges_for,
    reminder_due,
    reminders_enabled,
    send_reminders,
    set_reminders,
)
from tests import factories
from tests.conftest import make_config
from tests.materials.fakes import RecordingSender

DAY = dt.date(2026, 12, 1)
EVENING = dt.datetime(2026, 12, 1, 12, 0, 5, tzinfo=dt.UTC)  # 20:00:05 in Asia/Shanghai


def test_reminder_time_window(database_url: str) -> None:
    config = make_config(database_url, schedule={"reminder_time": "20:00", "misfire_grace": 600})
    assert reminder_due(config, EVENING - dt.timedelta(seconds=10)) is None
    assert reminder_due(config, EVENING) == DAY
    assert reminder_due(config, EVENING + dt.timedelta(minutes=9)) == DAY
    assert reminder_due(config, EVENING + dt.timedelta(minutes=11)) is None


async def populate(db):  # type: ignore[no-untyped-def]
    async with db.begin() as session:
        await factories.bank(session)
        done = await factories.member(session, "做完了", telegram_id=101)
        quiz_left = await factories.member(session, "没答题", telegram_id=102)
        unread = await factories.member(session, "有未读", telegram_id=103)
        off = await factories.member(session, "关提醒", telegram_id=104, reminders=False)
        blocked = await factories.member(session, "拉黑", telegram_id=105, reachable=False)
        await factories.member(session, "未绑定")
        item = PlanItem(
            slug="x", title="X", body="", when="2026-12-01T08:30", audience=["all"], points=1
        )
        session.add(item)
        await session.flush()
        occurrence = dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.UTC)
        for member in (done, quiz_left, unread, off, blocked):
            session.add(
                Delivery(
                    plan_item_id=item.id,
                    occurrence=occurrence,
                    chat_id=member.telegram_id,
                    member_id=member.id,
                    status="sent",
                )
            )
        for member in (done, quiz_left, off, blocked):
            session.add(
                MaterialRead(member_id=member.id, plan_item_id=item.id, occurrence=occurrence)
            )
        for member in (done, unread, off, blocked):
            session.add(
                QuizAttempt(
                    member_id=member.id, mode="daily", period_key=DAY.isoformat(), status="finished"
                )
            )
    return done, quiz_left, unread, off, blocked


async def test_who_is_nudged(db, database_url: str) -> None:
    config = make_config(database_url)
    await populate(db)
    async with db() as session:
        nudges = await nudges_for(session, config, DAY)
    assert [(n.chat_id, n.quiz_pending, n.unread) for n in nudges] == [
        (102, True, 0),
        (103, False, 1),
    ]
    text = nudge_text(nudges[0])
    assert "/quiz" in text and "/study" not in text and "/remind off" in text
    assert "/study" in nudge_text(nudges[1])


async def test_no_bank_means_no_quiz_nudge(db, database_url: str) -> None:
    config = make_config(database_url)
    async with db.begin() as session:
        await factories.member(session, "张三", telegram_id=101)
    async with db() as session:
        assert await nudges_for(session, config, DAY) == []


async def test_sent_once_a_day_and_403_marks_unreachable(db, database_url: str) -> None:
    config = make_config(
        database_url,
        telegram={"token": "123456:TEST-TOKEN", "rate_limit": {"overall_per_second": 0}},
    )
    await populate(db)
    sender = RecordingSender(blocked={103})
    assert await send_reminders(db, config, sender, now=EVENING) == 1
    assert await send_reminders(db, config, sender, now=EVENING + dt.timedelta(seconds=30)) == 0
    assert sender.chats() == [102]
    async with db() as session:
        rows = dict(
            list(
                await session.execute(
                    select(Member.telegram_id, ReminderSent.status).join(
                        Member, Member.id == ReminderSent.member_id
                    )
                )
            )
        )
        reachable = await session.scalar(select(Member.reachable).where(Member.telegram_id == 103))
    assert rows == {102: "sent", 103: "unreachable"}
    assert reachable is False
    # not at other times of day
    assert await send_reminders(db, config, sender, now=EVENING - dt.timedelta(hours=3)) == 0


async def test_remind_on_off(db, database_url: str) -> None:
    async with db.begin() as session:
        member = await factories.member(session, "张三", telegram_id=101)
    async with db.begin() as session:
        assert await reminders_enabled(session, member.id)
        assert await set_reminders(session, member.id, False)
        assert not await set_reminders(session, member.id, False)
    async with db.begin() as session:
        assert not await reminders_enabled(session, member.id)
        assert await set_reminders(session, member.id, True)
