"""Study materials in Telegram: the scheduled pushes, "已学习"/Done, /study, /remind, and
study plans sent in chat (caption ``/plan``).

Callback data: ``m:d:<item>:<occurrence>`` (Done), ``m:o:<item>:<occurrence>`` (open an
item from /study), ``m:q:<item>:<occurrence>`` (the quiz offered after reading; in a group
it opens the private chat through the deep link ``/start mq_<item>_<occurrence>``).
The occurrence is in seconds since the epoch.

Jobs (APScheduler through PTB's JobQueue): the materials tick every ``schedule.tick_seconds``
plus a one-off wake-up at the exact time of the next push, and the reminder check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path, PurePath
from typing import Any

from telegram import CallbackQuery, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
)

from bot.db.types import utcnow
from bot.i18n import Translator
from bot.materials import reads
from bot.materials.delivery import MaterialScheduler
from bot.materials.plan import (
    Plan,
    PlanError,
    load_configured_plan,
    parse_plan,
    store_plan,
    upcoming_pushes,
    upload_base_dir,
)
from bot.materials.reminders import reminders_enabled, send_reminders, set_reminders
from bot.materials.render import (
    done_data,
    item_keyboard,
    item_text,
    occurrence_from_key,
    occurrence_key,
    open_data,
)
from bot.sending import Button, Keyboard
from bot.telegram.common import (
    DEEP_LINKS,
    STARTUP_HOOKS,
    command_args,
    is_private,
    reply,
    requires,
)
from bot.telegram.context import StudyContext
from bot.telegram.keyboards import markup
from bot.telegram.uploads import DOCUMENT_ROUTES

log = logging.getLogger("studybot.materials")

PREFIX = "m:"
# Never drop a run for being late (APScheduler's default grace is 1 s); a run that finds the
# previous one still busy (a long broadcast) returns at once instead of being skipped noisily.
JOB_KWARGS: dict[str, Any] = {"misfire_grace_time": None, "coalesce": True, "max_instances": 3}
_reminders_running = asyncio.Lock()
STUDY_SHOWN = 15
STUDY_BUTTONS = 8


# --- rendering ------------------------------------------------------------------------------


def audience_text(_: Translator, audience: list[str | int]) -> str:
    if "all" in audience:
        return _("everyone")
    parts = [_("group {chat_id}", chat_id=a) if isinstance(a, int) else str(a) for a in audience]
    return "、".join(parts) if _.is_zh else ", ".join(parts)


def pushes_text(_: Translator, plan: Plan, tz: dt.tzinfo, count: int = 5) -> str:
    pushes = upcoming_pushes(plan, utcnow(), count)
    if not pushes:
        return _("No pushes are due in the future.")
    lines = [_("Next pushes:")]
    for push in pushes:
        lines.append(
            f"• {push.at.astimezone(tz).strftime('%m-%d %H:%M')} {push.item.title} → "
            f"{audience_text(_, push.item.audience)}"
        )
    return "\n".join(lines)


def _short(text: str, width: int = 18) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- callbacks ------------------------------------------------------------------------------


async def answer(query: CallbackQuery, text: str | None = None, **kwargs: Any) -> None:
    """Answer a button press; a query Telegram no longer accepts (too old, answered before a
    restart) must not stop what the press asked for."""
    try:
        await query.answer(text, **kwargs)
    except TelegramError as exc:
        log.info("could not answer a button press: %s", exc)


def _parse(data: str) -> tuple[str, int, dt.datetime | None] | None:
    parts = data.split(":")
    try:
        item_id = int(parts[2])
        occurrence = occurrence_from_key(int(parts[3])) if len(parts) > 3 else None
    except (IndexError, ValueError, OverflowError, OSError):
        return None
    return parts[1], item_id, occurrence


@requires("staff")
async def material_button(update: Update, context: StudyContext) -> None:
    query = update.callback_query
    _ = context.tr
    if query is None or query.data is None:
        return
    parsed = _parse(query.data)
    if parsed is None or parsed[2] is None:
        await answer(query, _("This button is no longer valid."))
        return
    action, item_id, occurrence = parsed
    assert occurrence is not None
    if action == "d":
        await _confirm(update, context, item_id, occurrence)
    elif action == "o":
        await answer(query)
        await _open(update, context, item_id, occurrence)
    elif action == "q":
        if not is_private(update):
            link = f"https://t.me/{context.bot.username}?start=mq_{item_id}_{occurrence_key(occurrence)}"
            await answer(query, url=link)
            return
        await answer(query)
        await start_item_quiz(update, context, item_id, occurrence)
    else:
        await answer(query, _("This button is no longer valid."))


async def _confirm(
    update: Update, context: StudyContext, item_id: int, occurrence: dt.datetime
) -> None:
    query = update.callback_query
    actor = context.actor
    _ = context.tr
    assert query is not None and actor is not None and actor.member_id is not None
    async with context.db.begin() as session:
        outcome = await reads.confirm_read(
            session,
            context.config,
            member_id=actor.member_id,
            item_id=item_id,
            occurrence=occurrence,
        )
        quiz = await reads.item_quiz(session, item_id)
    if outcome.status == "read":
        if outcome.points > 0:
            text = _("Marked as read: +{points} point(s).", points=outcome.points)
        elif outcome.capped:
            text = _("Marked as read. Today's points for reading have reached the daily cap.")
        else:
            text = _("Marked as read.")
    elif outcome.status == "already":
        text = _("You have already marked this as read.")
    elif outcome.status == "not_yet":
        text = _("This item has not been published yet.")
    elif outcome.status == "expired":
        text = _("This item is too old to be confirmed.")
    else:
        text = _("This item is no longer available.")
    await answer(query, text)
    if outcome.status in ("read", "already") and is_private(update) and query.message is not None:
        keyboard = item_keyboard(_, item_id, occurrence, quiz=quiz is not None, read=True)
        try:
            await query.edit_message_reply_markup(markup(keyboard))
        except TelegramError as exc:  # unchanged or too old: the confirmation stands
            log.debug("could not update the buttons after a read: %s", exc)


async def _open(
    update: Update, context: StudyContext, item_id: int, occurrence: dt.datetime
) -> None:
    _ = context.tr
    actor = context.actor
    assert actor is not None and actor.member_id is not None
    async with context.db() as session:
        content = await reads.item_content(session, context.config, item_id, occurrence)
        read = False
        if content is not None:
            entries = await reads.study_list(session, context.config, actor.member_id)
            read = any(
                e.item_id == item_id and e.occurrence == occurrence and e.read for e in entries
            )
    if content is None:
        await reply(update, context, _("This item is no longer available."))
        return
    text = item_text(
        _, title=content.title, body=content.body, url=content.url, points=content.points
    )
    keyboard = item_keyboard(_, item_id, occurrence, quiz=bool(content.quiz_bank), read=read)
    await reply(update, context, text, keyboard=keyboard, html=True)
    if content.file:
        chat = update.effective_chat
        try:
            data = await asyncio.to_thread(Path(content.file).read_bytes)
        except OSError as exc:
            log.error("attachment %s cannot be read: %s", content.file, exc)
            return
        if chat is not None:
            await context.bot.send_document(
                chat.id, data, filename=PurePath(content.file).name, caption=content.title
            )


async def start_item_quiz(
    update: Update, context: StudyContext, item_id: int, occurrence: dt.datetime
) -> None:
    """The quiz offered after reading: the private-quiz service in its ``material`` mode,
    once per member and occurrence, for practice."""
    from bot.quiz import service as quiz_service
    from bot.telegram.quiz import render_start

    _ = context.tr
    actor = context.actor
    if actor is None or actor.member_id is None:
        await reply(update, context, _("Please register first: send /start."))
        return
    chat = update.effective_chat
    async with context.db.begin() as session:
        quiz = await reads.item_quiz(session, item_id)
        if quiz is None:
            await reply(update, context, _("This item has no quiz."))
            return
        bank, questions = quiz
        result = await quiz_service.start_quiz(
            session,
            context.config,
            actor.member_id,
            mode="material",
            bank_slug=bank,
            questions=questions,
            period_key=f"m{item_id}:{occurrence_key(occurrence)}",
            telegram_id=actor.telegram_id,
            chat_id=chat.id if chat else None,
        )
    if result.status == "unknown_bank":
        await reply(
            update,
            context,
            _("The question bank {bank} of this item is not loaded yet.", bank=bank),
        )
        return
    await render_start(update, context, result)


async def quiz_link(update: Update, context: StudyContext, payload: str) -> None:
    """``/start mq_<item>_<occurrence>``: the quiz button pressed in a group."""
    try:
        item_text_id, occurrence_text = payload.split("_", 1)
        item_id = int(item_text_id)
        occurrence = occurrence_from_key(int(occurrence_text))
    except (ValueError, OverflowError, OSError):
        await reply(update, context, context.tr("This link is not valid."))
        return
    await start_item_quiz(update, context, item_id, occurrence)


# --- commands -------------------------------------------------------------------------------


@requires("staff", private_only=True)
async def study_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    actor = context.actor
    assert actor is not None and actor.member_id is not None
    async with context.db() as session:
        entries = await reads.study_list(session, context.config, actor.member_id)
    if not entries:
        await reply(
            update,
            context,
            _("No study materials for you in the last {days} days.", days=reads.STUDY_DAYS),
        )
        return
    tz = context.config.tz
    today = utcnow().astimezone(tz).date()
    lines = [_("Study materials of the last {days} days:", days=reads.STUDY_DAYS)]
    for entry in entries[:STUDY_SHOWN]:
        local = entry.occurrence.astimezone(tz)
        day = _("today") if local.date() == today else local.strftime("%m-%d")
        lines.append(f"{'✅' if entry.read else '⬜'} {day} {entry.title}")
    read_count = sum(1 for e in entries if e.read)
    lines.append("")
    lines.append(_("{read} of {total} read.", read=read_count, total=len(entries)))
    keyboard: Keyboard = []
    for entry in [e for e in entries if not e.read][:STUDY_BUTTONS]:
        keyboard.append(
            [
                Button(
                    "📖 " + _short(entry.title), data=open_data(entry.item_id, entry.occurrence)
                ),
                Button(_("Done"), data=done_data(entry.item_id, entry.occurrence)),
            ]
        )
    await reply(update, context, "\n".join(lines), keyboard=keyboard or None)


@requires("staff")
async def remind_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    actor = context.actor
    assert actor is not None and actor.member_id is not None
    args = [a.lower() for a in command_args(context)]
    time_text = context.config.schedule.reminder_time.strftime("%H:%M")
    if not args:
        async with context.db() as session:
            enabled = await reminders_enabled(session, actor.member_id)
        if enabled:
            text = _(
                "Daily reminders are on (at {time}). Send /remind off to turn them off.",
                time=time_text,
            )
        else:
            text = _("Daily reminders are off. Send /remind on to turn them on.")
        await reply(update, context, text)
        return
    if args[0] in ("off", "关", "关闭"):
        enabled = False
    elif args[0] in ("on", "开", "开启", "打开"):
        enabled = True
    else:
        await reply(update, context, _("Usage: /remind on or /remind off"))
        return
    async with context.db.begin() as session:
        await set_reminders(session, actor.member_id, enabled)
    if enabled:
        text = _(
            "Daily reminders are on: at {time} I remind you of anything left to do.",
            time=time_text,
        )
    else:
        text = _("Daily reminders are off. Send /remind on to turn them back on.")
    await reply(update, context, text)


async def plan_upload(update: Update, context: StudyContext, filename: str, content: bytes) -> None:
    """An admin sends a plan file captioned /plan: validate, then make it the active plan."""
    _ = context.tr
    actor = context.actor
    if PurePath(filename).suffix.lower() not in (".yaml", ".yml"):
        await reply(update, context, _("{name}: a study plan is a .yaml file.", name=filename))
        return
    try:
        plan = parse_plan(
            content,
            name=filename,
            config=context.config,
            base_dir=upload_base_dir(context.config),
        )
    except PlanError as exc:
        problems = exc.problems
        text = (
            _("The study plan was not loaded; nothing changed. Problems:")
            + "\n"
            + "\n".join("• " + p for p in problems[:20])
        )
        if len(problems) > 20:
            text += "\n" + _("…and {count} more.", count=len(problems) - 20)
        await reply(update, context, text)
        return
    async with context.db.begin() as session:
        summary = await store_plan(
            session, plan, source="upload", actor_telegram_id=actor.telegram_id if actor else None
        )
    log.info(
        "plan %s loaded by %s: %d items, %d new, %d changed, %d removed",
        filename,
        actor.telegram_id if actor else "-",
        len(plan.items),
        summary.added,
        summary.updated,
        summary.deactivated,
    )
    lines = [
        _(
            "Study plan {name} loaded: {items} items ({added} new, {updated} changed, "
            "{unchanged} unchanged, {deactivated} removed). Nothing already sent is sent again.",
            name=filename,
            items=len(plan.items),
            added=summary.added,
            updated=summary.updated,
            unchanged=summary.unchanged,
            deactivated=summary.deactivated,
        )
    ]
    if plan.warnings:
        lines.append(_("Warnings:"))
        lines += ["• " + w for w in plan.warnings[:10]]
    lines.append(pushes_text(_, plan, context.config.tz))
    await reply(update, context, "\n".join(lines))


# --- jobs -----------------------------------------------------------------------------------


async def _materials_job(context: CallbackContext) -> None:  # type: ignore[type-arg]
    scheduler: MaterialScheduler = context.bot_data["materials"]
    if scheduler.busy:
        return  # a broadcast is running; it covers everything due so far
    try:
        await scheduler.tick()
    except Exception:
        log.exception("materials tick failed")
    await _plan_wake_up(context, scheduler)


async def _plan_wake_up(context: CallbackContext, scheduler: MaterialScheduler) -> None:  # type: ignore[type-arg]
    """Wake up at the exact time of the next push when it comes before the next tick."""
    job_queue = context.job_queue
    if job_queue is None:
        return
    now = utcnow()
    tick = dt.timedelta(seconds=scheduler.config.schedule.tick_seconds)
    try:
        nxt = await scheduler.next_due(now)
    except Exception:
        log.exception("could not compute the next push")
        return
    for job in job_queue.get_jobs_by_name("materials-wake"):
        job.schedule_removal()
    if nxt is not None and nxt - now < tick:
        job_queue.run_once(_materials_job, when=nxt, name="materials-wake", job_kwargs=JOB_KWARGS)


async def _reminders_job(context: CallbackContext) -> None:  # type: ignore[type-arg]
    if _reminders_running.locked():
        return
    async with _reminders_running:
        try:
            await send_reminders(
                context.bot_data["db"],
                context.bot_data["config"],
                context.bot_data["sender"],
                should_stop=lambda: not context.application.running,
            )
        except Exception:
            log.exception("reminders failed")


async def start_scheduler(app: Application) -> None:  # type: ignore[type-arg]
    """Load the configured plan (if it changed) and start the jobs."""
    config = app.bot_data["config"]
    db = app.bot_data["db"]
    try:
        async with db.begin() as session:
            loaded = await load_configured_plan(session, config)
    except PlanError as exc:
        log.error("study plan not loaded; the stored plan stays in force:")
        for problem in exc.problems:
            log.error("  %s", problem)
    else:
        if loaded is not None:
            plan, summary = loaded
            if summary.skipped:
                log.info("study plan %s unchanged since it was last loaded", plan.name)
            else:
                for warning in plan.warnings:
                    log.warning("study plan: %s", warning)
                log.info(
                    "study plan %s loaded: %d items, %d new, %d changed, %d removed",
                    plan.name,
                    len(plan.items),
                    summary.added,
                    summary.updated,
                    summary.deactivated,
                )
    # shutting down (SIGTERM): finish the batch in flight, claim nothing more
    scheduler = MaterialScheduler(
        db, config, app.bot_data["sender"], should_stop=lambda: not app.running
    )
    app.bot_data["materials"] = scheduler
    job_queue = app.job_queue
    if job_queue is None:
        log.error("no job queue (install python-telegram-bot[job-queue]): nothing is scheduled")
        return
    interval = config.schedule.tick_seconds
    job_queue.run_repeating(
        _materials_job, interval=interval, first=0.2, name="materials-tick", job_kwargs=JOB_KWARGS
    )
    job_queue.run_repeating(
        _reminders_job, interval=interval, first=1.0, name="reminders", job_kwargs=JOB_KWARGS
    )
    log.info(
        "scheduler started: tick every %ss, misfire grace %ss, reminders at %s (%s)",
        interval,
        config.schedule.misfire_grace,
        config.schedule.reminder_time.strftime("%H:%M"),
        config.timezone,
    )


def register(app: Application) -> None:  # type: ignore[type-arg]
    DOCUMENT_ROUTES["/plan"] = plan_upload
    DEEP_LINKS["mq_"] = quiz_link
    if start_scheduler not in STARTUP_HOOKS:
        STARTUP_HOOKS.append(start_scheduler)
    app.add_handler(CommandHandler("study", study_command))
    app.add_handler(CommandHandler("remind", remind_command))
    app.add_handler(CallbackQueryHandler(material_button, pattern=r"^m:"))
