"""Fixtures of the discussion and reflection tests: a recording Sender and a few members."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sending import Keyboard, SendError, Sent
from tests import factories


@dataclass
class SentMessage:
    chat_id: int
    text: str
    reply_to: int | None
    message_id: int


@dataclass
class RecordingSender:
    """Keeps what services send; ``fail_next`` makes the next sends raise SendError."""

    messages: list[SentMessage] = field(default_factory=list)
    documents: list[tuple[int, str, bytes, str | None]] = field(default_factory=list)
    fail_next: list[str] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1000))

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
        if self.fail_next:
            raise SendError(self.fail_next.pop(0))
        message_id = next(self._ids)
        self.messages.append(SentMessage(chat_id, text, reply_to, message_id))
        return Sent(chat_id, message_id)

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> Sent:
        self.documents.append((chat_id, filename, data, caption))
        return Sent(chat_id, next(self._ids))


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@dataclass(frozen=True)
class People:
    li: int  # member ids
    wang: int
    zhao: int


@pytest.fixture
async def people(db: async_sessionmaker[AsyncSession]) -> People:
    async with db.begin() as session:
        li = await factories.member(session, "李明", dept="办公室", telegram_id=501)
        wang = await factories.member(session, "王芳", dept="宣传科", telegram_id=502)
        zhao = await factories.member(session, "赵强", dept="办公室", telegram_id=503)
        return People(li.id, wang.id, zhao.id)
