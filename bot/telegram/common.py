"""Shared handler plumbing: replies, role checks, and the registries features plug into.

- ``TEXT_ROUTES[kind]``: handles a private free-text message when the user's pending input
  (``pending_inputs`` table) is of that kind (a registration name, a blank answer, a note).
- ``DEEP_LINKS[prefix]``: handles ``/start <prefix>…`` payloads (e.g. ``ci_`` check-in links).
- ``STARTUP_HOOKS``: coroutines run once the application is initialised (scheduling jobs).
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from bot.sending import Keyboard
from bot.telegram.context import StudyContext
from bot.telegram.keyboards import keyboard_json, markup

log = logging.getLogger("studybot.handlers")

Handler = Callable[[Update, StudyContext], Coroutine[Any, Any, Any]]
TextRoute = Callable[[Update, StudyContext, dict[str, Any]], Awaitable[Any]]
DeepLink = Callable[[Update, StudyContext, str], Awaitable[Any]]
StartupHook = Callable[[Application], Awaitable[None]]  # type: ignore[type-arg]

TEXT_ROUTES: dict[str, TextRoute] = {}
DEEP_LINKS: dict[str, DeepLink] = {}
STARTUP_HOOKS: list[StartupHook] = []


def is_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


def is_group(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type in (
        ChatType.GROUP,
        ChatType.SUPERGROUP,
    )


async def reply(
    update: Update,
    context: StudyContext,
    text: str,
    *,
    keyboard: Keyboard | None = None,
    html: bool = False,
) -> Any:
    """Answer in the chat the update came from."""
    chat = update.effective_chat
    if chat is None:
        return None
    return await context.bot.send_message(
        chat.id,
        text,
        reply_markup=markup(keyboard),
        parse_mode="HTML" if html else None,
        disable_web_page_preview=True,
    )


# Replies on hot paths go out as plain Bot API calls (``call``): python-telegram-bot's
# ``send_message`` reads every sent message back into objects, which costs more CPU than the
# request itself, and those replies never look at the message they sent.
_RAW_METHODS = ("sendMessage", "editMessageText", "answerCallbackQuery")
warnings.filterwarnings(
    "ignore",
    message=r"Please use 'Bot\.(" + "|".join(_RAW_METHODS) + r")'",
    category=PTBUserWarning,
)
_NO_PREVIEW = {"is_disabled": True}


async def call(context: StudyContext, method: str, **params: Any) -> Any:
    """One Bot API call (``sendMessage``, ``editMessageText``, ``answerCallbackQuery``); the
    result is returned as JSON. Errors, retries and rate limits are those of every call."""
    return await context.bot.do_api_request(
        method, api_kwargs={k: v for k, v in params.items() if v is not None}
    )


async def say_quickly(
    update: Update,
    context: StudyContext,
    text: str,
    *,
    keyboard: Keyboard | None = None,
    reply_to: int | None = None,
) -> None:
    """``reply`` for hot paths: the same message, without reading the sent message back.
    ``reply_to`` quotes a message of the chat (sent anyway if it is gone)."""
    chat = update.effective_chat
    if chat is None:
        return
    await call(
        context,
        "sendMessage",
        chat_id=chat.id,
        text=text,
        reply_markup=keyboard_json(keyboard),
        link_preview_options=_NO_PREVIEW,
        reply_parameters=(
            {"message_id": reply_to, "allow_sending_without_reply": True} if reply_to else None
        ),
    )


def requires(
    role: str, *, private_only: bool = False, group_only: bool = False
) -> Callable[[Handler], Handler]:
    """Refuse (politely, and in the log) anyone without ``role``; check the chat type."""

    def decorate(func: Handler) -> Handler:
        @functools.wraps(func)
        async def wrapper(update: Update, context: StudyContext) -> Any:
            _ = context.tr
            actor = context.actor
            if private_only and not is_private(update):
                return await reply(
                    update, context, _("Please use this command in a private chat with me.")
                )
            if group_only and not is_group(update):
                return await reply(update, context, _("This command works in a group chat."))
            if actor is None or not actor.has(role):
                log.warning(
                    "refused %s: user=%s roles=%s needs=%s",
                    func.__name__,
                    update.effective_user.id if update.effective_user else "-",
                    sorted(actor.roles) if actor else [],
                    role,
                )
                if role == "staff":
                    text = _("Please register first: send /start.")
                else:
                    text = _(
                        "Sorry, this command is for {role} only.", role=role_name(context, role)
                    )
                if update.callback_query:
                    await update.callback_query.answer(text, show_alert=True)
                    return None
                return await reply(update, context, text)
            return await func(update, context)

        return wrapper

    return decorate


def role_name(context: StudyContext, role: str) -> str:
    _ = context.tr
    return {"staff": _("staff"), "leader": _("leaders and admins"), "admin": _("admins")}.get(
        role, role
    )


def command_args(context: StudyContext) -> list[str]:
    return list(context.args or [])
