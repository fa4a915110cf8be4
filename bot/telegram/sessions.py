"""In-person study sessions in Telegram: /session, the check-in button, the check-in link.

``/session TITLE [KIND] [WINDOW]`` (admins, in a group or in private) opens check-in: the
bot posts a check-in button and a deep link ``https://t.me/<bot>?start=ci_<code>`` that can
be shown as a QR code in the meeting room. ``/session close`` ends it and posts the
attendance; a session whose window ends is closed by the scheduler the same way.

Callback data: ``ci:<code>``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackContext, CallbackQueryHandler, CommandHandler

from bot.db.types import utcnow
from bot.i18n import Translator, translator
from bot.materials import sessions as service
from bot.materials.sessions import Attendance, SessionView
from bot.sending import Button, SendError
from bot.telegram.common import (
    DEEP_LINKS,
    STARTUP_HOOKS,
    command_args,
    is_group,
    reply,
    requires,
)
from bot.telegram.context import StudyContext
from bot.telegram.materials import JOB_KWARGS, answer

log = logging.getLogger("studybot.sessions")

PREFIX = "ci:"
NAMES_SHOWN = 60


def _local_time(tz: dt.tzinfo, moment: dt.datetime) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


def attendance_text(_: Translator, attendance: Attendance) -> str:
    view = attendance.session
    lines = [
        _(
            "📋 {kind} “{title}”: check-in closed. {attended} of {audience} checked in "
            "({rate:.1f}%).",
            kind=view.kind,
            title=view.title,
            attended=attendance.attended,
            audience=attendance.audience,
            rate=attendance.rate * 100,
        )
    ]
    if attendance.names:
        separator = "、" if _.is_zh else ", "
        shown = separator.join(attendance.names[:NAMES_SHOWN])
        if len(attendance.names) > NAMES_SHOWN:
            shown += " " + _("and {count} more", count=len(attendance.names) - NAMES_SHOWN)
        lines.append(_("Attendees: {names}", names=shown))
    return "\n".join(lines)


def usage_text(_: Translator) -> str:
    return _(
        "Usage: /session TITLE [KIND] [WINDOW], e.g. /session 学习党的二十届四中全会精神 "
        "集中学习 2h\nKinds: {kinds}. The window (default 3h) is how long check-in stays "
        "open. /session close ends check-in.",
        kinds="、".join(service.KINDS),
    )


@requires("admin")
async def session_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    args = command_args(context)
    chat = update.effective_chat
    actor = context.actor
    assert chat is not None and actor is not None
    if not args:
        async with context.db() as session:
            found = await service.open_sessions(
                session, chat_id=chat.id if is_group(update) else None
            )
        lines = [usage_text(_)]
        if found:
            lines.append("")
            lines.append(_("Open now:"))
            lines += [
                f"• {s.kind} {s.title} ({_local_time(context.config.tz, s.closes_at)})"
                for s in found
            ]
        await reply(update, context, "\n".join(lines))
        return
    if args[0].lower() in ("close", "关闭", "结束"):
        await _close_command(update, context, args[1:])
        return
    try:
        request = service.parse_request(args)
    except service.SessionRequestError as exc:
        if str(exc) == "window":
            text = _("The check-in window must be between 5 minutes and 24 hours, e.g. 2h or 90m.")
        elif str(exc) == "title_length":
            text = _("The title is too long (at most 200 characters).")
        else:
            text = usage_text(_)
        await reply(update, context, text)
        return
    async with context.db.begin() as session:
        if is_group(update):
            existing = await service.open_sessions(session, chat_id=chat.id)
            if existing:
                await reply(
                    update,
                    context,
                    _(
                        "A session is already open here: {title}. Send /session close first.",
                        title=existing[0].title,
                    ),
                )
                return
        message_in = update.effective_message
        view = await service.open_session(
            session,
            request,
            chat_id=chat.id,
            opened_by=actor.telegram_id,
            request_key=f"{chat.id}:{message_in.message_id}" if message_in else None,
        )
    if view is None:
        log.info("session command %s in %s delivered again: ignored", update.update_id, chat.id)
        return
    link = f"https://t.me/{context.bot.username}?start=ci_{view.code}"
    text = _(
        "📋 {kind}: {title}\nCheck-in is open until {time}. Press the button below, or open "
        "this link (it can be shown as a QR code):\n{link}",
        kind=view.kind,
        title=view.title,
        time=_local_time(context.config.tz, view.closes_at),
        link=link,
    )
    keyboard = [[Button(_("Check in"), data=f"{PREFIX}{view.code}")]]
    message = await reply(update, context, text, keyboard=keyboard)
    if message is not None:
        async with context.db.begin() as session:
            await service.set_message(session, view.id, message.message_id)
    log.info(
        "session %s opened by %s in %s: %s (%s) until %s",
        view.code,
        actor.telegram_id,
        chat.id,
        view.title,
        view.kind,
        view.closes_at.isoformat(),
    )


async def _close_command(update: Update, context: StudyContext, rest: list[str]) -> None:
    _ = context.tr
    chat = update.effective_chat
    actor = context.actor
    assert chat is not None and actor is not None
    async with context.db.begin() as session:
        if rest:
            found = await service.session_by_code(session, rest[0])
            candidates = [found.id] if found is not None else []
        elif is_group(update):
            candidates = [s.id for s in await service.open_sessions(session, chat_id=chat.id)]
        else:
            candidates = [
                s.id for s in await service.open_sessions(session, opened_by=actor.telegram_id)
            ]
        attendance = await service.close_session(session, candidates[0]) if candidates else None
    if attendance is None:
        await reply(update, context, _("There is no open study session here."))
        return
    log.info(
        "session %s closed by %s: %d of %d",
        attendance.session.code,
        actor.telegram_id,
        attendance.attended,
        attendance.audience,
    )
    await reply(update, context, attendance_text(_, attendance))
    await _announce_closed(context, attendance, skip_chat=chat.id)


async def _announce_closed(
    context: CallbackContext,  # type: ignore[type-arg]
    attendance: Attendance,
    *,
    skip_chat: int | None = None,
) -> None:
    """Remove the check-in button, and post the attendance where the session was opened."""
    view = attendance.session
    config = context.bot_data["config"]
    sender = context.bot_data["sender"]
    if view.chat_id is not None and view.message_id is not None:
        try:
            await context.bot.edit_message_reply_markup(view.chat_id, view.message_id)
        except TelegramError as exc:
            log.debug("could not remove the check-in button: %s", exc)
    if view.chat_id is not None and view.chat_id != skip_chat:
        try:
            await sender.send_text(
                view.chat_id, attendance_text(translator(config.locale), attendance)
            )
        except SendError as exc:
            log.warning("could not post the attendance of %s: %s", view.code, exc)


async def _check_in(update: Update, context: StudyContext, code: str, via: str) -> str:
    _ = context.tr
    actor = context.actor
    assert actor is not None and actor.member_id is not None
    async with context.db.begin() as session:
        outcome = await service.check_in(
            session, context.config, code=code, member_id=actor.member_id, via=via
        )
    view: SessionView | None = outcome.session
    if outcome.status == "checked_in" and view is not None:
        log.info("check-in %s: member %s via %s", code, actor.member_id, via)
        if outcome.points > 0:
            return _(
                "Checked in to {title}: +{points} point(s).",
                title=view.title,
                points=outcome.points,
            )
        return _("Checked in to {title}.", title=view.title)
    if outcome.status == "already" and view is not None:
        return _("You have already checked in to {title}.", title=view.title)
    if outcome.status == "closed" and view is not None:
        return _("Check-in for {title} is closed.", title=view.title)
    return _("This check-in is not valid.")


@requires("staff")
async def checkin_button(update: Update, context: StudyContext) -> None:
    query = update.callback_query
    if query is None or query.data is None:
        return
    text = await _check_in(update, context, query.data[len(PREFIX) :], "button")
    await answer(query, text)


async def checkin_link(update: Update, context: StudyContext, code: str) -> None:
    """``/start ci_<code>``: the check-in deep link (private chat)."""
    _ = context.tr
    if context.actor is None or not context.actor.is_member:
        await reply(
            update,
            context,
            _("Please register first: send /start, then open the check-in link again."),
        )
        return
    await reply(update, context, await _check_in(update, context, code, "link"))


_closing = asyncio.Lock()


async def _sessions_job(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """Close sessions whose check-in window is over and post their attendance."""
    if _closing.locked():
        return
    async with _closing:
        await _close_expired(context)


async def _close_expired(context: CallbackContext) -> None:  # type: ignore[type-arg]
    db = context.bot_data["db"]
    try:
        async with db() as session:
            due = await service.expired_sessions(session, utcnow())
        for session_id, closes_at in due:
            async with db.begin() as session:
                attendance = await service.close_session(session, session_id, now=closes_at)
            if attendance is None:
                continue  # closed meanwhile (by command or by another replica)
            log.info(
                "session %s closed at the end of its window: %d of %d",
                attendance.session.code,
                attendance.attended,
                attendance.audience,
            )
            # to the group, or for a session opened in private to the admin who opened it
            await _announce_closed(context, attendance)
    except Exception:
        log.exception("closing expired sessions failed")


async def start_jobs(app: Application) -> None:  # type: ignore[type-arg]
    if app.job_queue is None:
        return
    app.job_queue.run_repeating(
        _sessions_job,
        interval=app.bot_data["config"].schedule.tick_seconds,
        first=0.5,
        name="sessions",
        job_kwargs=JOB_KWARGS,
    )


def register(app: Application) -> None:  # type: ignore[type-arg]
    DEEP_LINKS["ci_"] = checkin_link
    if start_jobs not in STARTUP_HOOKS:
        STARTUP_HOOKS.append(start_jobs)
    app.add_handler(CommandHandler("session", session_command))
    app.add_handler(CallbackQueryHandler(checkin_button, pattern=r"^ci:"))
