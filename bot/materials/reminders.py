"""The daily nudge at ``schedule.reminder_time``: today's quiz not done, or items unread.

One nudge per member and day at most: ``reminders_sent`` is unique per (member, day) and the
row is claimed before the message is sent, so neither a restart nor a second replica nudges
twice. Members turn reminders off with ``/remind off``; unreachable members are skipped.
A reminder the bot could not send on time (it was down) goes out only within
``schedule.misfire_grace``; a nudge at midnight helps nobody.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from bot.db.models import (
    Bank,
    Delivery,
    MaterialRead,
    Member,
    QuizAttempt,
    ReminderSent,
)
from bot.db.types import utcnow
from bot.db.upsert import insert_or_ignore
from bot.i18n import resolve_locale, translator
from bot.materials.delivery import HEADROOM, Pacer
from bot.sending import RecipientUnreachable, Sender, SendError

log = logging.getLogger("studybot.reminders")


@dataclass(frozen=True)
class Nudge:
    member_id: int
    chat_id: int
    locale: str
    quiz_pending: bool
    unread: int


def reminder_moment(config: Config, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, config.schedule.reminder_time, config.tz).astimezone(dt.UTC)


def reminder_due(config: Config, now: dt.datetime) -> dt.date | None:
    """The local day whose reminder is due now (from its time until the grace runs out)."""
    today = now.astimezone(config.tz).date()
    moment = reminder_moment(config, today)
    grace = dt.timedelta(seconds=max(config.schedule.misfire_grace, 60))
    if moment <= now <= moment + grace:
        return today
    return None


def day_bounds(config: Config, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(0), config.tz).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), config.tz).astimezone(dt.UTC)
    return start, end


async def set_reminders(session: AsyncSession, member_id: int, enabled: bool) -> bool:
    """Turn a member's reminders on or off; True when it changed."""
    result = await session.execute(
        update(Member)
        .where(Member.id == member_id, Member.reminders.is_not(enabled))
        .values(reminders=enabled)
    )
    return (result.rowcount or 0) > 0  # type: ignore[attr-defined]


async def reminders_enabled(session: AsyncSession, member_id: int) -> bool:
    return bool(await session.scalar(select(Member.reminders).where(Member.id == member_id)))


async def nudges_for(session: AsyncSession, config: Config, day: dt.date) -> list[Nudge]:
    """Members to nudge today: quiz not finished, or items pushed to them today unread."""
    start, end = day_bounds(config, day)
    quiz_available = (
        await session.scalar(select(Bank.id).where(Bank.active.is_(True)).limit(1))
    ) is not None
    finished_quiz = exists().where(
        QuizAttempt.member_id == Member.id,
        QuizAttempt.mode == "daily",
        QuizAttempt.period_key == day.isoformat(),
        QuizAttempt.status == "finished",
    )
    already = exists().where(ReminderSent.member_id == Member.id, ReminderSent.day == day)
    unread = (
        select(func.count(Delivery.id))
        .where(
            Delivery.member_id == Member.id,
            Delivery.status == "sent",
            Delivery.occurrence >= start,
            Delivery.occurrence < end,
            ~exists().where(
                and_(
                    MaterialRead.member_id == Delivery.member_id,
                    MaterialRead.plan_item_id == Delivery.plan_item_id,
                    MaterialRead.occurrence == Delivery.occurrence,
                )
            ),
        )
        .correlate(Member)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Member.id, Member.telegram_id, Member.language, finished_quiz, unread)
        .where(
            Member.active.is_(True),
            Member.telegram_id.is_not(None),
            Member.reachable.is_(True),
            Member.reminders.is_(True),
            ~already,
        )
        .order_by(Member.id)
    )
    nudges: list[Nudge] = []
    for member_id, telegram_id, language, quiz_done, unread_count in rows:
        quiz_pending = quiz_available and not quiz_done
        if quiz_pending or unread_count:
            nudges.append(
                Nudge(
                    member_id,
                    telegram_id,
                    resolve_locale(language, config.locale),
                    quiz_pending,
                    int(unread_count or 0),
                )
            )
    return nudges


def nudge_text(nudge: Nudge) -> str:
    _ = translator(nudge.locale)
    lines = [_("Good evening! A short reminder:")]
    if nudge.quiz_pending:
        lines.append(_("• today's daily quiz is still waiting: /quiz"))
    if nudge.unread:
        lines.append(_("• {count} study item(s) of today unread: /study", count=nudge.unread))
    lines.append(_("(Turn these reminders off with /remind off.)"))
    return "\n".join(lines)


async def send_reminders(
    db: async_sessionmaker[AsyncSession],
    config: Config,
    sender: Sender,
    now: dt.datetime | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Send today's nudges if it is time; returns how many were sent. Stops early (the rest
    goes out on the next run) when ``should_stop()`` says the bot is shutting down."""
    now = now or utcnow()
    day = reminder_due(config, now)
    if day is None:
        return 0
    async with db() as session:
        nudges = await nudges_for(session, config, day)
    limit = config.telegram.rate_limit.overall_per_second
    pacer = Pacer(limit * HEADROOM, limit) if limit > 0 else Pacer(0)
    sent = 0
    for nudge in nudges:
        if should_stop():
            break
        async with db.begin() as session:
            claimed = await insert_or_ignore(
                session,
                ReminderSent,
                {"member_id": nudge.member_id, "day": day, "status": "claimed", "sent_at": now},
            )
        if claimed is None:
            continue
        status = "sent"
        try:
            async with pacer.slot():
                await sender.send_text(nudge.chat_id, nudge_text(nudge))
            sent += 1
        except RecipientUnreachable:
            status = "unreachable"
        except SendError as exc:
            status = "failed"
            log.warning("reminder to %s failed: %s", nudge.chat_id, exc)
        async with db.begin() as session:
            await session.execute(
                update(ReminderSent)
                .where(ReminderSent.member_id == nudge.member_id, ReminderSent.day == day)
                .values(status=status, sent_at=utcnow())
            )
            if status == "unreachable":
                await session.execute(
                    update(Member).where(Member.id == nudge.member_id).values(reachable=False)
                )
    if nudges:
        log.info("reminders for %s: %d sent of %d due", day.isoformat(), sent, len(nudges))
    return sent
