"""Registration (/start), /help, roles (/grant, /revoke), /adjust, uploads, and fallbacks."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.db.models import Member
from bot.members import service as members
from bot.members.roster import RosterError, import_roster
from bot.points.ledger import adjust
from bot.sending import Button
from bot.telegram.common import (
    DEEP_LINKS,
    TEXT_ROUTES,
    command_args,
    is_private,
    log,
    reply,
    requires,
    role_name,
)
from bot.telegram.context import StudyContext
from bot.telegram.uploads import DOCUMENT_ROUTES, handle_document

error_log = logging.getLogger("studybot.errors")


def _dept_keyboard(departments: list[tuple[int, str]]) -> list[list[Button]]:
    buttons = [Button(name, data=f"reg:{dept_id}") for dept_id, name in departments]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def _welcome(context: StudyContext, view: members.MemberView) -> str:
    _ = context.tr
    dept = view.department or _("(no department)")
    return _(
        "Welcome, {name} ({department})! You are registered. Send /quiz for today's quiz, "
        "/study for materials, /help for everything else.",
        name=view.name,
        department=dept,
    )


async def start(update: Update, context: StudyContext) -> None:
    _ = context.tr
    user = update.effective_user
    if user is None:
        return
    if not is_private(update):
        await reply(update, context, _("Please send /start to me in a private chat."))
        return
    payload = command_args(context)[0] if command_args(context) else ""
    for prefix, link_handler in DEEP_LINKS.items():
        if payload.startswith(prefix):
            await link_handler(update, context, payload[len(prefix) :])
            return
    async with context.db.begin() as session:
        if payload:
            outcome = await members.bind_with_code(
                session, user.id, user.username, user.language_code, payload
            )
        else:
            outcome = await members.begin_registration(
                session, context.config, user.id, user.username, user.language_code
            )
    await _render_outcome(update, context, outcome)


async def _render_outcome(
    update: Update, context: StudyContext, outcome: members.RegistrationOutcome
) -> None:
    _ = context.tr
    status = outcome.status
    if status in ("bound", "already") and outcome.member is not None:
        if status == "already":
            await reply(
                update,
                context,
                _(
                    "You are already registered as {name}. Send /help to see what you can do.",
                    name=outcome.member.name,
                ),
            )
        else:
            await reply(update, context, _welcome(context, outcome.member))
    elif status == "ask_name":
        await reply(
            update, context, _("Welcome to the study programme! Please reply with your real name.")
        )
    elif status == "invalid_name":
        await reply(update, context, _("Please reply with your real name (at most 50 characters)."))
    elif status == "ask_department":
        await reply(
            update,
            context,
            _("Thank you, {name}. Which department are you in?", name=outcome.name),
            keyboard=_dept_keyboard(outcome.departments),
        )
    elif status == "not_on_roster":
        await reply(
            update,
            context,
            _(
                "Sorry, {name} is not on the roster of this department. Please check the name "
                "and department, or ask an admin to add you; send /start to try again.",
                name=outcome.name,
            ),
        )
    elif status == "bad_code":
        await reply(
            update,
            context,
            _("This invitation code is not valid. Send /start to register by name."),
        )
    elif status == "code_used":
        await reply(update, context, _("This invitation code has already been used."))


async def registration_name(update: Update, context: StudyContext, payload: dict) -> None:
    user = update.effective_user
    message = update.effective_message
    if user is None or message is None or not message.text:
        return
    async with context.db.begin() as session:
        outcome = await members.submit_name(
            session, context.config, user.id, user.username, user.language_code, message.text
        )
    await _render_outcome(update, context, outcome)


async def registration_department(update: Update, context: StudyContext) -> None:
    query = update.callback_query
    _ = context.tr
    if query is None or query.data is None:
        return
    user = query.from_user
    try:
        dept_id = int(query.data.split(":", 1)[1])
    except ValueError:
        await query.answer(_("This button is no longer valid."))
        return
    async with context.db.begin() as session:
        outcome = await members.choose_department(
            session, context.config, user.id, user.username, user.language_code, dept_id
        )
    if outcome.status == "stale":
        await query.answer(_("This button is no longer valid."))
        return
    await query.answer()
    if outcome.status == "bound" and outcome.member is not None:
        try:
            await query.edit_message_reply_markup(None)
        except TelegramError:
            pass
    await _render_outcome(update, context, outcome)


async def help_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    actor = context.actor
    lines: list[str] = []
    if actor is None or not actor.is_member:
        lines.append(_("Send /start to register with your real name and department."))
    else:
        lines.append(_("Hello, {name}. You can:", name=actor.name))
        lines += [
            _("/quiz — today's daily quiz"),
            _("/weekly — this week's quiz; /special — campaign quiz; /challenge — challenge"),
            _("/review — review the questions you got wrong"),
            _("/study — today's study materials"),
            _("/me — my points, rank and streak; /leaderboard — the ranking"),
            _("/note TEXT — submit a study reflection; /notes — my reflections"),
            _("/remind off|on — daily reminders"),
        ]
    if actor is not None and actor.is_leader:
        lines.append("")
        lines.append(_("For leaders:"))
        lines += [
            _("/summary [period] — participation summary with the XLSX report"),
            _("/report [period] — the report as DOCX, XLSX and a chart"),
        ]
    if actor is not None and actor.is_admin:
        lines.append("")
        lines.append(_("For admins:"))
        lines += [
            _(
                "Send a .yaml/.xlsx/.csv file here to import a question bank "
                "(caption /roster for a roster, /plan for a study plan)"
            ),
            _("/banks — question banks; /livequiz BANK [N] [SECONDS] — live quiz in a group"),
            _(
                "/session TITLE — open a study session check-in; /discuss TITLE [HOURS] — topic discussion"
            ),
            _("/grant USER ROLE, /revoke USER ROLE — roles: staff, leader, admin"),
            _("/adjust USER DELTA REASON — adjust points (audited)"),
        ]
    lines.append("")
    lines.append(_("Periods: today, week, month, quarter, year, season, 2026, 2026-Q3, 2026-11."))
    await reply(update, context, "\n".join(lines))


async def _find_target(
    update: Update, context: StudyContext, session: AsyncSession, ref: str
) -> Member | None:
    """The member an admin command names, or None after telling the admin why not."""
    _ = context.tr
    try:
        return await members.find_member(session, ref)
    except members.AmbiguousMember:
        await reply(
            update,
            context,
            _("Several members match {ref}; use @username or the employee number.", ref=ref),
        )
    except members.MemberNotFound:
        await reply(update, context, _("No member matches {ref}.", ref=ref))
    return None


async def _role_change(update: Update, context: StudyContext, grant: bool) -> None:
    _ = context.tr
    args = command_args(context)
    usage = _(
        "Usage: /grant USER ROLE (USER: @username, Telegram id, employee no. or name; ROLE: staff, leader, admin)"
    )
    if len(args) < 2:
        await reply(update, context, usage)
        return
    role = args[-1].lower()
    ref = " ".join(args[:-1])
    if role not in members.ROLES:
        await reply(update, context, usage)
        return
    actor = context.actor
    assert actor is not None
    async with context.db.begin() as session:
        target = await _find_target(update, context, session, ref)
        if target is None:
            return
        if grant:
            changed = await members.grant_role(session, target, role, actor.telegram_id)
        else:
            changed = await members.revoke_role(session, target, role, actor.telegram_id)
        name = target.name
    log.info(
        "%s role=%s member=%s by=%s changed=%s",
        "grant" if grant else "revoke",
        role,
        name,
        actor.telegram_id,
        changed,
    )
    if not changed:
        await reply(
            update,
            context,
            _(
                "Nothing changed: {name} {state} the role {role}.",
                name=name,
                state=_("already has") if grant else _("does not have"),
                role=role_name(context, role),
            ),
        )
    elif grant:
        await reply(
            update,
            context,
            _("{name} now has the role {role}.", name=name, role=role_name(context, role)),
        )
    else:
        await reply(
            update,
            context,
            _("{name} no longer has the role {role}.", name=name, role=role_name(context, role)),
        )


@requires("admin")
async def grant_command(update: Update, context: StudyContext) -> None:
    await _role_change(update, context, True)


@requires("admin")
async def revoke_command(update: Update, context: StudyContext) -> None:
    await _role_change(update, context, False)


def _request_key(update: Update) -> str | None:
    """The command's own identity (chat and message id): the same for a redelivery."""
    message = update.effective_message
    if message is None or message.chat is None:
        return None
    return f"msg:{message.chat.id}:{message.message_id}"


@requires("admin")
async def adjust_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    args = command_args(context)
    if len(args) < 3:
        await reply(
            update,
            context,
            _("Usage: /adjust USER DELTA REASON, e.g. /adjust @zhang 5 quiz appeal"),
        )
        return
    ref, delta_text, reason = args[0], args[1], " ".join(args[2:])
    try:
        delta = int(delta_text)
    except ValueError:
        await reply(update, context, _("DELTA must be a whole number such as 5 or -3."))
        return
    if delta == 0 or abs(delta) > 10_000:
        await reply(update, context, _("DELTA must be a whole number such as 5 or -3."))
        return
    actor = context.actor
    assert actor is not None
    async with context.db.begin() as session:
        target = await _find_target(update, context, session, ref)
        if target is None:
            return
        await adjust(
            session,
            member_id=target.id,
            delta=delta,
            reason=reason,
            actor_telegram_id=actor.telegram_id,
            tz=context.config.tz,
            reference=_request_key(update),
        )
        name = target.name
    await reply(
        update,
        context,
        _("Adjusted {name} by {delta:+d} points: {reason}", name=name, delta=delta, reason=reason),
    )


async def roster_upload(
    update: Update, context: StudyContext, filename: str, content: bytes
) -> None:
    _ = context.tr
    actor = context.actor
    try:
        async with context.db.begin() as session:
            summary = await import_roster(
                session,
                context.config,
                Path(filename),
                content=content,
                actor_telegram_id=actor.telegram_id if actor else None,
            )
    except RosterError as exc:
        problems = exc.problems
        text = (
            _("The roster was not imported; nothing changed. Problems:")
            + "\n"
            + "\n".join("• " + p for p in problems[:20])
        )
        if len(problems) > 20:
            text += "\n" + _("…and {count} more.", count=len(problems) - 20)
        await reply(update, context, text)
        return
    await reply(
        update,
        context,
        _(
            "Roster imported: {added} added, {updated} updated, {unchanged} unchanged, {deactivated} deactivated.",
            added=summary.added,
            updated=summary.updated,
            unchanged=summary.unchanged,
            deactivated=summary.deactivated,
        ),
    )


async def private_text(update: Update, context: StudyContext) -> None:
    """Free text in private: whatever the user's pending input expects, else a hint."""
    _ = context.tr
    user = update.effective_user
    if user is None:
        return
    async with context.db() as session:
        pending = await members.pending_input(session, user.id)
    if pending is not None and pending.kind in TEXT_ROUTES:
        await TEXT_ROUTES[pending.kind](update, context, dict(pending.payload or {}))
        return
    if context.actor is None or not context.actor.is_member:
        await reply(update, context, _("Send /start to register, or /help to see what I can do."))
    else:
        await reply(
            update, context, _("I did not understand that. Send /help to see what I can do.")
        )


async def unknown_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    if not is_private(update):
        return  # commands for other bots in a group are none of our business
    await reply(update, context, _("Unknown command. Send /help to see what I can do."))


async def stale_button(update: Update, context: StudyContext) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer(context.tr("This button is no longer valid."))


async def bot_membership(update: Update, context: StudyContext) -> None:
    """The bot was added to an allowed group (foreign ones were left by the middleware)."""
    change = update.my_chat_member
    if change is None or is_private(update):
        return  # a private chat: the user blocked or unblocked the bot (see resilience)
    status = change.new_chat_member.status
    if status in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR):
        _ = context.tr
        await reply(
            update,
            context,
            _(
                "Hello! I run the study programme of this group. Members: send /start to me in a private chat to register."
            ),
        )


async def on_error(update: object, context: StudyContext) -> None:
    """Log with traceback; tell the user politely, never with a stack trace."""
    error_log.error(
        "handler failed for update %s", getattr(update, "update_id", "?"), exc_info=context.error
    )
    if not isinstance(update, Update):
        return
    try:
        _ = context.tr
        text = _("Sorry, something went wrong on our side. Please try again in a moment.")
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        elif update.effective_chat is not None and update.effective_message is not None:
            await context.bot.send_message(update.effective_chat.id, text)
    except Exception:  # the apology itself failed: nothing more to do
        error_log.debug("could not tell the user about the failure", exc_info=True)


def register(app: Application) -> None:  # type: ignore[type-arg]
    TEXT_ROUTES["reg_name"] = registration_name
    DOCUMENT_ROUTES["/roster"] = roster_upload
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("help", help_command))
    app.add_handler(CommandHandler("grant", grant_command))
    app.add_handler(CommandHandler("revoke", revoke_command))
    app.add_handler(CommandHandler("adjust", adjust_command))
    app.add_handler(CallbackQueryHandler(registration_department, pattern=r"^reg:"))
    app.add_handler(ChatMemberHandler(bot_membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_error_handler(on_error)  # type: ignore[arg-type]


def register_fallbacks(app: Application) -> None:  # type: ignore[type-arg]
    """Registered after every feature, so they only see what nobody else handled."""
    app.add_handler(
        MessageHandler(filters.Document.ALL & filters.ChatType.PRIVATE, handle_document)
    )
    app.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    app.add_handler(
        MessageHandler(
            filters.TEXT & filters.ChatType.PRIVATE & ~filters.UpdateType.EDITED, private_text
        )
    )
    app.add_handler(CallbackQueryHandler(stale_button))
