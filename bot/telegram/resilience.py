"""How the bot copes when Telegram or the database misbehave.

- ``RetryingLimiter`` sits on python-telegram-bot's rate-limiter hook, so it sees every Bot API
  call (replies included, not only the services' ``Sender``): it waits out 429 answers, retries
  transient failures (502/503/504, refused or reset connections) a few times, and retries a
  timed-out call only when repeating it cannot duplicate a message. An edit answered with
  "message is not modified" already shows what we wanted, so it counts as done.
- Two error handlers bracket the apologising one of the registration module:
  ``before_apology`` marks the update as failed in its log line, marks a member who blocked the
  bot as unreachable, and skips the apology where it cannot help (blocked: it cannot arrive;
  timed out: the answer was probably delivered after all). ``after_apology`` stops the update
  when the middleware itself failed (the database is down, say): every later handler would
  misjudge the user as unregistered and answer nonsense on top of the apology.
- ``my_chat_member`` in a private chat tells when a member blocks (unreachable) or unblocks
  (reachable again) the bot, so broadcasts skip them instead of retrying in a loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import update as sql_update
from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    BaseRateLimiter,
    ChatMemberHandler,
)

from bot.db.models import Member
from bot.telegram.context import StudyContext
from bot.telegram.processor import actor_loaded, note_failure
from bot.telegram.sender import retry_after_seconds

log = logging.getLogger("studybot.resilience")

# Calls that put something new into a chat: repeating one after a timeout may post it twice.
_NOT_REPEATABLE_PREFIXES = ("send", "forward", "copy")


def repeatable(endpoint: str) -> bool:
    """Whether calling ``endpoint`` again after a timeout is harmless."""
    return not endpoint.startswith(_NOT_REPEATABLE_PREFIXES)


class RetryingLimiter(BaseRateLimiter[Any]):
    """Retries around every Bot API call, optionally wrapping a throttling limiter."""

    def __init__(
        self,
        inner: BaseRateLimiter[Any] | None = None,
        *,
        attempts: int = 3,
        max_wait: float = 30.0,
        backoff: float = 0.5,
    ) -> None:
        self.inner = inner
        self.attempts = max(1, attempts)
        self.max_wait = max_wait
        self.backoff = backoff

    async def initialize(self) -> None:
        if self.inner is not None:
            await self.inner.initialize()

    async def shutdown(self) -> None:
        if self.inner is not None:
            await self.inner.shutdown()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Any,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                if self.inner is not None:
                    return await self.inner.process_request(
                        callback, args, kwargs, endpoint, data, rate_limit_args
                    )
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                # A throttling limiter has already waited and retried; a long ban is better
                # reported than slept through inside a handler.
                if self.inner is not None or last or wait > self.max_wait:
                    raise
                log.warning(
                    "%s: Telegram asked to wait %.0fs (attempt %d)", endpoint, wait, attempt
                )
                await asyncio.sleep(wait)
            except BadRequest as exc:
                if endpoint.startswith("edit") and "not modified" in exc.message.lower():
                    return True
                raise
            except TimedOut:
                if last or not repeatable(endpoint):
                    raise
                log.warning("%s: timed out, retrying in %.1fs", endpoint, delay)
                await asyncio.sleep(delay)
                delay *= 2
            except NetworkError as exc:
                if last:
                    raise
                log.warning("%s: %s, retrying in %.1fs", endpoint, exc, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover


async def set_reachable(context: StudyContext, telegram_id: int, reachable: bool) -> None:
    try:
        async with context.db.begin() as session:
            await session.execute(
                sql_update(Member)
                .where(Member.telegram_id == telegram_id)
                .values(reachable=reachable)
            )
    except SQLAlchemyError:
        log.exception(
            "could not record that user %s is %sreachable", telegram_id, "" if reachable else "un"
        )


async def before_apology(update: object, context: StudyContext) -> None:
    error = context.error
    note_failure(type(error).__name__ if error is not None else "unknown")
    if not isinstance(update, Update):
        return
    chat = update.effective_chat
    if isinstance(error, Forbidden):
        if chat is not None and chat.type == ChatType.PRIVATE:
            log.warning("user %s blocked the bot; marked unreachable", chat.id)
            await set_reachable(context, chat.id, False)
        raise ApplicationHandlerStop
    if isinstance(error, TimedOut):
        log.warning(
            "update %s: a Bot API call timed out; the answer was probably delivered late",
            update.update_id,
        )
        raise ApplicationHandlerStop


async def after_apology(update: object, context: StudyContext) -> None:
    if not isinstance(update, Update):
        return
    user = update.effective_user
    if user is not None and not user.is_bot and not actor_loaded():
        raise ApplicationHandlerStop


async def private_membership(update: Update, context: StudyContext) -> None:
    """Blocked (kicked) or unblocked (member) in a private chat: follow reachability."""
    change = update.my_chat_member
    if change is None or change.chat.type != ChatType.PRIVATE:
        return
    status = change.new_chat_member.status
    if status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
        await set_reachable(context, change.chat.id, False)
    elif status == ChatMemberStatus.MEMBER:
        await set_reachable(context, change.chat.id, True)


def install_error_handlers_first(app: Application) -> None:  # type: ignore[type-arg]
    """Before the features register theirs: runs ahead of the apology."""
    app.add_error_handler(before_apology)  # type: ignore[arg-type]


def install(app: Application) -> None:  # type: ignore[type-arg]
    """After the features: the error handler that may stop the update, reachability."""
    app.add_error_handler(after_apology)  # type: ignore[arg-type]
    app.add_handler(
        ChatMemberHandler(private_membership, ChatMemberHandler.MY_CHAT_MEMBER),  # type: ignore[arg-type]
        group=1,
    )
