"""Small conversation steps shared by the reliability end-to-end tests."""

from __future__ import annotations

import socket
from typing import Any

from tests.fakebot import Call, FakeBotAPI, FakeUser


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a webhook listener)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(fake: FakeBotAPI, user: FakeUser, text: str, timeout: float = 30, **kwargs: Any) -> Call:
    """The user sends ``text``; the bot's first answer in that chat."""
    mark = fake.mark()
    fake.send_text(user, text, **kwargs)
    chat = kwargs.get("chat")
    return fake.wait_for(
        "sendMessage", since=mark, chat_id=chat.id if chat else user.id, timeout=timeout
    )


def register(fake: FakeBotAPI, user: FakeUser, name: str, dept: str, timeout: float = 30) -> str:
    """/start, the real name, the department button; returns the welcome text."""
    say(fake, user, "/start", timeout)
    say(fake, user, name, timeout)
    message = fake.messages(user.id)[-1]
    mark = fake.mark()
    fake.press(user, message, text=dept)
    return fake.wait_for("sendMessage", since=mark, chat_id=user.id, timeout=timeout).params["text"]
