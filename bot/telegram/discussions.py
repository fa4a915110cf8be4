"""Chat side of topic discussions (/discuss, group replies and their edits) and study
reflections (/note, /notes, /notes export).

Group replies are handled in their own handler group (``REPLY_HANDLER_GROUP``), so this
handler never takes an update away from another feature: it looks only at replies to the
bot's own messages and acts only when that message is an open topic. Telegram does not tell
bots about deleted messages, so a deleted reply is not noticed (see ``bot.discussions.topics``).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.core.periods import PeriodError, parse_period
from bot.db.types import utcnow
from bot.discussions import reflections as notes
from bot.discussions import topics
from bot.discussions.export import FORMATS, export_reflections
from bot.members import service as members
from bot.sending import Button, Sender, SendError
from bot.telegram.common import (
    STARTUP_HOOKS,
    TEXT_ROUTES,
    command_args,
    reply,
    requires,
)
from bot.telegram.context import StudyContext

log = logging.getLogger("studybot.discussions")

# A handler group of its own: group replies are also seen by other features' handlers.
REPLY_HANDLER_GROUP = 8
SWEEP_SECONDS = 60
NOTE_PROMPT_TTL = dt.timedelta(hours=24)
CLOSE_WORDS = ("close", "end", "stop", "结束", "关闭")
COUNTED_REACTION = "👍"


def _sender(context: StudyContext) -> Sender:
    return context.bot_data["sender"]  # type: ignore[no-any-return]


async def _tell_privately(context: StudyContext, telegram_id: int, text: str) -> None:
    """A private note to a member; they may never have opened the chat, which is fine."""
    try:
        await _sender(context).send_text(telegram_id, text)
    except SendError as exc:
        log.info("could not tell %s privately: %s", telegram_id, exc)


# --- scheduling ------------------------------------------------------------------------------


def _job_name(topic_id: int) -> str:
    return f"discussion-close:{topic_id}"


def arm_close(app: Application, topic: topics.Topic) -> None:  # type: ignore[type-arg]
    """Close ``topic`` at its end; a late start runs the job at once (no misfire limit)."""
    if app.job_queue is None:
        return
    for job in app.job_queue.get_jobs_by_name(_job_name(topic.id)):
        job.schedule_removal()
    app.job_queue.run_once(
        _close_job,
        when=max(topic.closes_at, utcnow() + dt.timedelta(seconds=1)),
        data=topic.id,
        name=_job_name(topic.id),
        job_kwargs={"misfire_grace_time": None},
    )


async def _close_job(context: StudyContext) -> None:
    job = context.job
    if job is None:
        return
    bot_data = context.application.bot_data
    await topics.close_topic(bot_data["db"], bot_data["sender"], bot_data["config"], job.data)  # type: ignore[arg-type]


async def _sweep_job(context: StudyContext) -> None:
    """Safety net: closes topics opened by another replica or whose job was lost."""
    bot_data = context.application.bot_data
    await topics.close_due_topics(bot_data["db"], bot_data["sender"], bot_data["config"])


async def arm_open_topics(app: Application) -> None:  # type: ignore[type-arg]
    """After a (re)start: close what ended while we were down, re-arm the rest."""
    bot_data = app.bot_data
    closed = await topics.close_due_topics(bot_data["db"], bot_data["sender"], bot_data["config"])
    async with bot_data["db"]() as session:
        still_open = await topics.open_topics(session)
    for topic in still_open:
        arm_close(app, topic)
    if app.job_queue is not None:
        app.job_queue.run_repeating(
            _sweep_job,
            interval=SWEEP_SECONDS,
            first=SWEEP_SECONDS,
            name="discussion-sweep",
            job_kwargs={"misfire_grace_time": SWEEP_SECONDS},
        )
    if closed or still_open:
        log.info("discussions: closed %d overdue, %d still open", len(closed), len(still_open))


# --- /discuss --------------------------------------------------------------------------------


@requires("admin", group_only=True)
async def discuss_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    args = command_args(context)
    chat = update.effective_chat
    message = update.effective_message
    if chat is None or message is None:
        return
    if len(args) == 1 and args[0].lower() in CLOSE_WORDS:
        await _close_command(update, context)
        return
    if not args:
        async with context.db() as session:
            open_now = await topics.open_topics(session, chat.id)
        lines = [_("Usage: /discuss TITLE [HOURS] to open a topic, /discuss close to end it.")]
        for topic in open_now:
            lines.append(
                _(
                    "Open: \u201c{title}\u201d until {end}",
                    title=topic.title,
                    end=topics.format_local(topic.closes_at, context.config),
                )
            )
        await reply(update, context, "\n".join(lines))
        return
    try:
        title, window = topics.parse_discuss_args(args)
    except topics.TopicInputError as exc:
        texts = {
            "no_title": _(
                "Usage: /discuss TITLE [HOURS] to open a topic, /discuss close to end it."
            ),
            "title_too_long": _(
                "The title is too long (at most {max} characters).", max=topics.TITLE_MAX
            ),
            "bad_window": _(
                "The window must be between 1 minute and 30 days, e.g. 24, 2h, 90m or 3d (hours by default)."
            ),
        }
        await reply(update, context, texts[exc.code])
        return
    actor = context.actor
    try:
        opened = await topics.open_topic(
            context.db,
            _sender(context),
            context.config,
            chat_id=chat.id,
            title=title,
            window=window,
            opened_by=actor.telegram_id if actor else None,
            request_key=f"{chat.id}:{message.message_id}",
        )
    except SendError as exc:
        log.error("could not post the topic message in chat %s: %s", chat.id, exc)
        return
    if opened is not None:
        arm_close(context.application, opened)


async def _close_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    chat = update.effective_chat
    message = update.effective_message
    if chat is None or message is None:
        return
    replied = message.reply_to_message.message_id if message.reply_to_message else None
    async with context.db() as session:
        topic = await topics.topic_to_close(session, chat.id, replied)
    if topic is None:
        await reply(update, context, _("There is no open topic discussion in this group."))
        return
    result = await topics.close_topic(context.db, _sender(context), context.config, topic.id)
    if result is None:
        await reply(
            update,
            context,
            _("The topic discussion \u201c{title}\u201d is already closed.", title=topic.title),
        )
        return
    if context.job_queue is not None:
        for job in context.job_queue.get_jobs_by_name(_job_name(topic.id)):
            job.schedule_removal()


# --- replies to a topic ----------------------------------------------------------------------


async def topic_reply(update: Update, context: StudyContext) -> None:
    """A reply (or an edited reply) to one of the bot's messages in a group."""
    message = update.effective_message
    chat = update.effective_chat
    user = update.effective_user
    if message is None or chat is None or user is None or user.is_bot:
        return
    target = message.reply_to_message
    if target is None or target.from_user is None or target.from_user.id != context.bot.id:
        return
    edited = update.edited_message is not None
    sent_at = (message.edit_date if edited else None) or message.date or utcnow()
    text = message.text or message.caption or ""
    prompt = False
    async with context.db.begin() as session:
        outcome = await topics.record_reply(
            session,
            context.config,
            chat_id=chat.id,
            topic_message_id=target.message_id,
            telegram_id=user.id,
            message_id=message.message_id,
            text=text,
            sent_at=sent_at,
            edited=edited,
        )
        if outcome.status == "unregistered":
            prompt = await members.prompt_start_once(session, user.id)
    await _render_reply_outcome(update, context, outcome, prompt=prompt, edited=edited)


async def _render_reply_outcome(
    update: Update,
    context: StudyContext,
    outcome: topics.ReplyOutcome,
    *,
    prompt: bool,
    edited: bool,
) -> None:
    _ = context.tr
    user = update.effective_user
    message = update.effective_message
    topic = outcome.topic
    if user is None or message is None or topic is None:
        return
    status = outcome.status
    log.info("topic %s reply %s by %s: %s", topic.id, message.message_id, user.id, status)
    if status == "unregistered":
        if prompt:
            await _tell_privately(
                context,
                user.id,
                _(
                    "You replied to the topic discussion \u201c{title}\u201d. To take part and "
                    "earn points, please register first: send /start here, then reply to the "
                    "topic again.",
                    title=topic.title,
                ),
            )
    elif status == "counted":
        try:
            await context.bot.set_message_reaction(
                message.chat_id, message.message_id, COUNTED_REACTION
            )
        except TelegramError as exc:  # reactions may be restricted in the group
            log.debug("no reaction on %s: %s", message.message_id, exc)
        if outcome.points > 0:
            text = _(
                "Thank you! Your reply to the topic discussion \u201c{title}\u201d counts: "
                "+{points} points.",
                title=topic.title,
                points=outcome.points,
            )
        elif outcome.capped:
            text = _(
                "Thank you! Your reply to the topic discussion \u201c{title}\u201d counts. "
                "You have reached today's limit for discussion points.",
                title=topic.title,
            )
        else:
            text = _(
                "Thank you! Your reply to the topic discussion \u201c{title}\u201d counts.",
                title=topic.title,
            )
        await _tell_privately(context, user.id, text)
    elif status == "too_short":
        await _tell_privately(
            context,
            user.id,
            _(
                "Your reply to \u201c{title}\u201d has {length} countable characters; at least "
                "{min_chars} are needed (emoji, punctuation, repeated characters and "
                "\u201c+1\u201d-style words do not count). Edit it or reply again to take part.",
                title=topic.title,
                length=outcome.length,
                min_chars=outcome.min_chars,
            ),
        )
    elif status == "closed" and not edited:
        await _tell_privately(
            context,
            user.id,
            _(
                "The topic discussion \u201c{title}\u201d has already ended; your reply was not counted.",
                title=topic.title,
            ),
        )


# --- /note and /notes --------------------------------------------------------------------------


def _command_text(update: Update) -> str:
    """What follows the command word, with its line breaks (context.args would lose them)."""
    message = update.effective_message
    if message is None or not message.text:
        return ""
    parts = message.text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def _link_keyboard(links: list[notes.Link]) -> list[list[Button]]:
    return [
        [Button("📎 " + link.title[:40], data=f"d:note:{link.kind}:{link.id}")] for link in links
    ]


@requires("staff", private_only=True)
async def note_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    actor = context.actor
    assert actor is not None and actor.member_id is not None
    text = _command_text(update)
    if text:
        await _submit(update, context, text, None)
        return
    async with context.db.begin() as session:
        await members.set_pending_input(
            session, actor.telegram_id, "note", {"at": utcnow().isoformat()}
        )
        links = await notes.recent_links(session, actor.member_id, utcnow())
    prompt = _(
        "Please send your study reflection as your next message (at least {min_chars} characters).",
        min_chars=context.config.points.reflection.min_chars,
    )
    if links:
        prompt += "\n" + _("If it is about one of these, choose it first:")
    await reply(update, context, prompt, keyboard=_link_keyboard(links) or None)


@requires("staff", private_only=True)
async def note_link_button(update: Update, context: StudyContext) -> None:
    """``d:note:m:<plan item>`` / ``d:note:s:<session>``: the next note is about that."""
    _ = context.tr
    query = update.callback_query
    actor = context.actor
    if query is None or query.data is None or actor is None:
        return
    parts = query.data.split(":")
    if len(parts) != 4 or parts[2] not in ("m", "s") or not parts[3].isdigit():
        await query.answer(_("This button is no longer valid."))
        return
    async with context.db.begin() as session:
        link = await notes.resolve_link(session, parts[2], int(parts[3]))
        if link is None:
            await query.answer(_("This button is no longer valid."))
            return
        await members.set_pending_input(
            session,
            actor.telegram_id,
            "note",
            {"at": utcnow().isoformat(), "kind": link.kind, "id": link.id},
        )
    await query.answer()
    await reply(
        update,
        context,
        _(
            "Your reflection will be about \u201c{title}\u201d. Please send it now (at least {min_chars} characters).",
            title=link.title,
            min_chars=context.config.points.reflection.min_chars,
        ),
    )


async def note_text(update: Update, context: StudyContext, payload: dict[str, Any]) -> None:
    """The private text that answers a ``/note`` prompt."""
    _ = context.tr
    message = update.effective_message
    actor = context.actor
    if message is None or actor is None:
        return
    if actor.member_id is None:
        await reply(update, context, _("Please register first: send /start."))
        return
    try:
        asked_at = dt.datetime.fromisoformat(str(payload.get("at")))
    except ValueError:
        asked_at = None
    if asked_at is None or utcnow() - asked_at > NOTE_PROMPT_TTL:
        async with context.db.begin() as session:
            await members.clear_pending_input(session, actor.telegram_id, "note")
        await reply(
            update,
            context,
            _("Your /note prompt has expired. Send /note again to submit a study reflection."),
        )
        return
    link = None
    if payload.get("kind") in ("m", "s") and isinstance(payload.get("id"), int):
        link = notes.Link(payload["kind"], payload["id"], "")
    await _submit(update, context, message.text or "", link)


async def _submit(
    update: Update, context: StudyContext, text: str, link: notes.Link | None
) -> None:
    _ = context.tr
    actor = context.actor
    message = update.effective_message
    assert actor is not None and actor.member_id is not None and message is not None
    async with context.db.begin() as session:
        outcome = await notes.submit_reflection(
            session,
            context.config,
            member_id=actor.member_id,
            message_id=message.message_id,
            text=text,
            link=link,
        )
        if outcome.status != "too_short":
            await members.clear_pending_input(session, actor.telegram_id, "note")
        elif not await members.pending_input(session, actor.telegram_id):
            await members.set_pending_input(
                session, actor.telegram_id, "note", {"at": utcnow().isoformat()}
            )
    if outcome.status == "too_short":
        await reply(
            update,
            context,
            _(
                "Not saved: your reflection has {length} characters (not counting spaces), and at "
                "least {min_chars} are needed. Please send a longer text.",
                length=outcome.length,
                min_chars=outcome.min_chars,
            ),
        )
        return
    if outcome.status == "duplicate":
        await reply(update, context, _("This reflection is already saved."))
        return
    lines = [_("Saved your study reflection ({length} characters).", length=outcome.length)]
    if outcome.points > 0:
        lines.append(_("+{points} points.", points=outcome.points))
    elif outcome.capped:
        lines.append(
            _(
                "This week's reflection points are already awarded (at most {cap} per week); thank you all the same.",
                cap=context.config.points.reflection.weekly_cap,
            )
        )
    lines.append(_("Send /notes to see your reflections."))
    await reply(update, context, "\n".join(lines))


async def notes_command(update: Update, context: StudyContext) -> None:
    args = command_args(context)
    if args and args[0].lower() in ("export", "导出"):
        await _notes_export(update, context)
    else:
        await _notes_list(update, context)


@requires("staff", private_only=True)
async def _notes_list(update: Update, context: StudyContext) -> None:
    _ = context.tr
    actor = context.actor
    assert actor is not None and actor.member_id is not None
    async with context.db() as session:
        total, views = await notes.member_reflections(session, actor.member_id)
    if total == 0:
        await reply(
            update,
            context,
            _(
                "You have no study reflections yet. Send /note followed by your text (at least {min_chars} characters).",
                min_chars=context.config.points.reflection.min_chars,
            ),
        )
        return
    lines = [_("Your study reflections ({total}):", total=total)]
    for view in views:
        when = view.created_at.astimezone(context.config.tz).strftime("%Y-%m-%d")
        line = _(
            "{date} · {length} characters · +{points}",
            date=when,
            length=view.length,
            points=view.points,
        )
        if view.about:
            line += " · " + _("About: {title}", title=view.about)
        lines.append(line)
        lines.append("   " + view.preview)
    if total > len(views):
        lines.append(_("(the latest {shown} of {total})", shown=len(views), total=total))
    if actor.is_admin:
        lines.append(
            _("Admins: /notes export [period] gives everyone's reflections as XLSX and DOCX.")
        )
    await reply(update, context, "\n".join(lines))


@requires("admin", private_only=True)
async def _notes_export(update: Update, context: StudyContext) -> None:
    _ = context.tr
    config = context.config
    chat = update.effective_chat
    assert chat is not None
    text = " ".join(command_args(context)[1:]) or None
    today = utcnow().astimezone(config.tz).date()
    seasons = [(s.name, s.from_, s.to) for s in config.points.seasons]
    try:
        period = parse_period(text, today, seasons=seasons)
    except PeriodError:
        await reply(
            update,
            context,
            _(
                "Unknown period. Use today, week, month, quarter, year, season, 2026, 2026-Q3 or 2026-11."
            ),
        )
        return
    locale = context.tr.locale
    files = []
    async with context.db() as session:
        for fmt in FORMATS:
            files.append(await export_reflections(session, config, period, fmt, locale=locale))
    log.info(
        "reflections export by %s: %s, %d rows",
        update.effective_user.id if update.effective_user else "-",
        period.key,
        files[0].count,
    )
    if files[0].count == 0:
        await reply(
            update,
            context,
            _("No study reflections were submitted in {period}.", period=period.label),
        )
        return
    caption = _("{count} study reflections, {period}", count=files[0].count, period=period.label)
    for file in files:
        await _sender(context).send_document(chat.id, file.filename, file.content, caption=caption)


def register(app: Application) -> None:  # type: ignore[type-arg]
    TEXT_ROUTES["note"] = note_text
    STARTUP_HOOKS.append(arm_open_topics)
    app.add_handler(CommandHandler("discuss", discuss_command))
    app.add_handler(CommandHandler("note", note_command))
    app.add_handler(CommandHandler("notes", notes_command))
    app.add_handler(CallbackQueryHandler(note_link_button, pattern=r"^d:note:"))
    app.add_handler(
        MessageHandler(
            filters.UpdateType.MESSAGES
            & filters.ChatType.GROUPS
            & filters.REPLY
            & (filters.TEXT | filters.CAPTION)
            & ~filters.COMMAND,
            topic_reply,
        ),
        group=REPLY_HANDLER_GROUP,
    )
