"""A recording Sender and a settable clock for live-quiz service tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from bot.sending import Keyboard, SendError, Sent


@dataclass
class Call:
    method: str
    chat_id: int
    args: dict[str, Any] = field(default_factory=dict)
    result: Sent | None = None


class RecordingSender:
    """Implements ``bot.sending.Sender``; records every call, can be told to fail."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: dict[str, list[Exception]] = {}
        self._message_id = 100
        self._poll_id = 0

    def fail_next(self, method: str, error: Exception) -> None:
        self.failures.setdefault(method, []).append(error)

    def _maybe_fail(self, method: str) -> None:
        queue = self.failures.get(method)
        if queue:
            raise queue.pop(0)

    def _next_message(self) -> int:
        self._message_id += 1
        return self._message_id

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    @property
    def polls(self) -> list[Call]:
        return self.of("send_poll")

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
        self._maybe_fail("send_text")
        sent = Sent(chat_id, self._next_message())
        self.calls.append(Call("send_text", chat_id, {"text": text, "reply_to": reply_to}, sent))
        return sent

    async def edit_text(
        self, chat_id: int, message_id: int, text: str, *, keyboard: Keyboard | None = None
    ) -> None:
        self.calls.append(Call("edit_text", chat_id, {"message_id": message_id, "text": text}))

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> Sent:
        raise SendError("not used by live quizzes")

    async def send_photo(self, chat_id: int, data: bytes, *, caption: str | None = None) -> Sent:
        raise SendError("not used by live quizzes")

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
        self._maybe_fail("send_poll")
        self._poll_id += 1
        sent = Sent(chat_id, self._next_message(), f"poll{self._poll_id}")
        self.calls.append(
            Call(
                "send_poll",
                chat_id,
                {
                    "question": question,
                    "options": list(options),
                    "quiz_correct": quiz_correct,
                    "multiple": multiple,
                    "explanation": explanation,
                    "open_period": open_period,
                    "reply_to": reply_to,
                    "allows_revoting": allows_revoting,
                },
                sent,
            )
        )
        return sent

    async def stop_poll(self, chat_id: int, message_id: int) -> None:
        self._maybe_fail("stop_poll")
        self.calls.append(Call("stop_poll", chat_id, {"message_id": message_id}))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now
