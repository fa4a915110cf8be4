"""What services need to send messages, without knowing about Telegram.

``bot/telegram/sender.py`` implements ``Sender`` over the python-telegram-bot Bot; tests may
hand services a recording fake. Errors are translated into the exceptions below so that a
service can react (skip an unreachable member, follow a migrated group) without importing
``telegram``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Button:
    text: str
    data: str | None = None
    url: str | None = None


Keyboard = list[list[Button]]


@dataclass(frozen=True)
class Sent:
    chat_id: int
    message_id: int
    poll_id: str | None = None
    # Telegram's id of an uploaded document: later sends can reuse it instead of the bytes
    file_id: str | None = None


class SendError(Exception):
    """Sending failed for good (after the retries the sender does itself)."""


class RecipientUnreachable(SendError):
    """403: the member blocked the bot, or the bot was removed from the group."""


class ChatNotFound(SendError):
    """400 chat not found: the chat id is wrong or gone."""


class ChatMigrated(SendError):
    """The group became a supergroup with a new id."""

    def __init__(self, new_chat_id: int) -> None:
        super().__init__(f"chat migrated to {new_chat_id}")
        self.new_chat_id = new_chat_id


class Sender(Protocol):
    async def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        keyboard: Keyboard | None = None,
        reply_to: int | None = None,
        html: bool = False,
        disable_preview: bool = True,
    ) -> Sent: ...

    async def edit_text(
        self, chat_id: int, message_id: int, text: str, *, keyboard: Keyboard | None = None
    ) -> None: ...

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> Sent: ...

    async def send_document_id(
        self, chat_id: int, file_id: str, *, caption: str | None = None
    ) -> Sent: ...

    async def send_photo(
        self, chat_id: int, data: bytes, *, caption: str | None = None
    ) -> Sent: ...

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
    ) -> Sent: ...

    async def stop_poll(self, chat_id: int, message_id: int) -> None: ...
