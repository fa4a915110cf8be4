"""``Sender`` over the PTB bot: retries what is worth retrying, translates the rest."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import Bot, InputFile, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.error import ChatMigrated as TgChatMigrated

from bot.sending import ChatMigrated, ChatNotFound, Keyboard, RecipientUnreachable, SendError, Sent
from bot.telegram.keyboards import markup

log = logging.getLogger(__name__)
T = TypeVar("T")


def retry_after_seconds(exc: RetryAfter) -> float:
    value: Any = exc.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


async def call_with_retries(
    action: Callable[[], Awaitable[T]], *, attempts: int = 4, what: str = "request"
) -> T:
    """Run a Bot API call: wait out 429s, retry 5xx/network errors a bounded number of
    times, and translate permanent failures into ``bot.sending`` exceptions."""
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            return await action()
        except RetryAfter as exc:
            wait = retry_after_seconds(exc)
            log.warning("%s: Telegram asked to wait %.1fs (attempt %d)", what, wait, attempt)
            if attempt == attempts:
                raise SendError(f"flood limit persisted: {exc}") from None
            await asyncio.sleep(wait)
        except Forbidden as exc:
            raise RecipientUnreachable(str(exc)) from None
        except TgChatMigrated as exc:
            raise ChatMigrated(int(exc.new_chat_id)) from None
        except BadRequest as exc:
            if "chat not found" in exc.message.lower():
                raise ChatNotFound(exc.message) from None
            raise SendError(exc.message) from None
        except (TimedOut, NetworkError) as exc:
            if attempt == attempts:
                raise SendError(f"network error: {exc}") from None
            log.warning("%s: %s, retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 8)
    raise SendError("unreachable")  # pragma: no cover


def _sent(message: Message) -> Sent:
    return Sent(
        message.chat_id,
        message.message_id,
        message.poll.id if message.poll else None,
        message.document.file_id if message.document else None,
    )


class BotSender:
    """The production Sender."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        keyboard: Keyboard | None = None,
        reply_to: int | None = None,
        html: bool = False,
        disable_preview: bool = True,
    ) -> Sent:
        message = await call_with_retries(
            lambda: self.bot.send_message(
                chat_id,
                text,
                reply_markup=markup(keyboard),
                reply_to_message_id=reply_to,
                parse_mode=ParseMode.HTML if html else None,
                disable_web_page_preview=disable_preview,
            ),
            what="sendMessage",
        )
        return _sent(message)

    async def edit_text(
        self, chat_id: int, message_id: int, text: str, *, keyboard: Keyboard | None = None
    ) -> None:
        try:
            await call_with_retries(
                lambda: self.bot.edit_message_text(
                    text, chat_id=chat_id, message_id=message_id, reply_markup=markup(keyboard)
                ),
                what="editMessageText",
            )
        except SendError as exc:
            if "not modified" not in str(exc):
                raise

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> Sent:
        message = await call_with_retries(
            lambda: self.bot.send_document(
                chat_id, InputFile(data, filename=filename), caption=caption
            ),
            what="sendDocument",
        )
        return _sent(message)

    async def send_document_id(
        self, chat_id: int, file_id: str, *, caption: str | None = None
    ) -> Sent:
        """Send a document Telegram already has (a broadcast uploads its file only once)."""
        message = await call_with_retries(
            lambda: self.bot.send_document(chat_id, file_id, caption=caption),
            what="sendDocument",
        )
        return _sent(message)

    async def send_photo(self, chat_id: int, data: bytes, *, caption: str | None = None) -> Sent:
        message = await call_with_retries(
            lambda: self.bot.send_photo(
                chat_id, InputFile(data, filename="chart.png"), caption=caption
            ),
            what="sendPhoto",
        )
        return _sent(message)

    async def send_poll(
        self,
        chat_id: int,
        question: str,
        options: list[str],
        *,
        quiz_correct: list[int] | None = None,
        multiple: bool = False,
        explanation: str | None = None,
        open_period: int | None = None,
        reply_to: int | None = None,
        allows_revoting: bool | None = None,
    ) -> Sent:
        kwargs: dict[str, Any] = {"is_anonymous": False, "open_period": open_period}
        if allows_revoting is not None:
            kwargs["allows_revoting"] = allows_revoting
        if quiz_correct is not None:
            kwargs.update(type="quiz", correct_option_ids=quiz_correct, explanation=explanation)
        else:
            kwargs.update(type="regular", allows_multiple_answers=multiple)
        if reply_to:
            kwargs["reply_to_message_id"] = reply_to
        message = await call_with_retries(
            lambda: self.bot.send_poll(chat_id, question, options, **kwargs), what="sendPoll"
        )
        return _sent(message)

    async def stop_poll(self, chat_id: int, message_id: int) -> None:
        try:
            await call_with_retries(
                lambda: self.bot.stop_poll(chat_id, message_id), what="stopPoll"
            )
        except SendError as exc:
            if "already" not in str(exc) or "closed" not in str(exc):
                raise
