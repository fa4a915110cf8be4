"""A recording ``Sender`` for the service tests: answers like Telegram, fails on request."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bot.sending import (
    ChatMigrated,
    ChatNotFound,
    Keyboard,
    RecipientUnreachable,
    SendError,
    Sent,
)


@dataclass
class SentMessage:
    chat_id: int
    kind: str  # text | document
    text: str | None = None
    keyboard: Keyboard | None = None
    filename: str | None = None
    file_id: str | None = None


@dataclass
class RecordingSender:
    """Records every message; ``blocked`` chats answer 403, ``failing`` chats a send error,
    ``migrated`` maps a group to its new id, ``not_found`` chats 400 chat not found."""

    blocked: set[int] = field(default_factory=set)
    failing: set[int] = field(default_factory=set)
    not_found: set[int] = field(default_factory=set)
    migrated: dict[int, int] = field(default_factory=dict)
    delay: float = 0.0
    messages: list[SentMessage] = field(default_factory=list)
    uploads: int = 0
    _next_id: int = 1

    def _check(self, chat_id: int) -> None:
        if chat_id in self.blocked:
            raise RecipientUnreachable("Forbidden: bot was blocked by the user")
        if chat_id in self.failing:
            raise SendError("Internal Server Error")
        if chat_id in self.not_found:
            raise ChatNotFound("Bad Request: chat not found")
        if chat_id in self.migrated:
            raise ChatMigrated(self.migrated[chat_id])

    def _sent(self, chat_id: int, **kwargs: Any) -> Sent:
        self._next_id += 1
        return Sent(chat_id, self._next_id, **kwargs)

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
        if self.delay:
            await asyncio.sleep(self.delay)
        self._check(chat_id)
        self.messages.append(SentMessage(chat_id, "text", text=text, keyboard=keyboard))
        return self._sent(chat_id)

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> Sent:
        self._check(chat_id)
        self.uploads += 1
        self.messages.append(SentMessage(chat_id, "document", text=caption, filename=filename))
        return self._sent(chat_id, file_id=f"FILE-{filename}")

    async def send_document_id(
        self, chat_id: int, file_id: str, *, caption: str | None = None
    ) -> Sent:
        self._check(chat_id)
        self.messages.append(SentMessage(chat_id, "document", text=caption, file_id=file_id))
        return self._sent(chat_id, file_id=file_id)

    async def edit_text(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def send_photo(self, chat_id: int, data: bytes, *, caption: str | None = None) -> Sent:
        self._check(chat_id)
        return self._sent(chat_id)

    async def send_poll(self, chat_id: int, *args: Any, **kwargs: Any) -> Sent:
        self._check(chat_id)
        return self._sent(chat_id, poll_id="1")

    async def stop_poll(self, chat_id: int, message_id: int) -> None:
        return None

    def texts_to(self, chat_id: int) -> list[str]:
        return [m.text or "" for m in self.messages if m.chat_id == chat_id and m.kind == "text"]

    def chats(self, kind: str = "text") -> list[int]:
        return [m.chat_id for m in self.messages if m.kind == kind]
