"""Value objects shared by the fake server and the tests that drive it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BOT_ID", "BOT_USERNAME", "Call", "FakeChat", "FakeUser", "bot_user_dict"]

BOT_ID = 100000
BOT_USERNAME = "studybot_test_bot"
BOT_FIRST_NAME = "StudyBot"


def bot_user_dict(*, full: bool = False) -> dict[str, Any]:
    """The bot as a ``User``; ``full`` adds the fields only ``getMe`` returns."""
    user: dict[str, Any] = {
        "id": BOT_ID,
        "is_bot": True,
        "first_name": BOT_FIRST_NAME,
        "username": BOT_USERNAME,
    }
    if full:
        user.update(
            {
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
                "has_topics_enabled": False,
                "allows_users_to_create_topics": False,
                "can_manage_bots": False,
                "supports_guest_queries": False,
            }
        )
    return user


@dataclass(frozen=True)
class FakeUser:
    """A Telegram account that talks to the bot; its private chat id equals its user id."""

    id: int
    first_name: str = "User"
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "zh-hans"
    is_bot: bool = False

    @property
    def chat_id(self) -> int:
        return self.id

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            d["last_name"] = self.last_name
        if self.username:
            d["username"] = self.username
        if self.language_code:
            d["language_code"] = self.language_code
        return d

    def private_chat(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            d["last_name"] = self.last_name
        if self.username:
            d["username"] = self.username
        return d


@dataclass(frozen=True)
class FakeChat:
    """A group, supergroup or channel the bot can be a member of."""

    id: int
    title: str = "Group"
    type: str = "supergroup"
    username: str | None = None

    @property
    def chat_id(self) -> int:
        return self.id

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            d["username"] = self.username
        return d


@dataclass
class Call:
    """One Bot API request as the server received it.

    ``params`` holds decoded values (numbers, booleans and JSON-valued fields as Python
    objects); ``files`` maps multipart field names to ``(filename, content)``. ``status``
    and ``response`` are filled once the server has answered.
    """

    index: int
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    time: float = 0.0
    status: int | None = None
    response: dict[str, Any] | None = None

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def result(self) -> Any:
        return self.response.get("result") if self.response else None

    @property
    def text(self) -> str | None:
        """The human-readable content: text, caption, or poll question."""
        for key in ("text", "caption", "question"):
            value = self.params.get(key)
            if isinstance(value, str):
                return value
        return None

    def describe(self) -> str:
        parts = [f"#{self.index} {self.method}"]
        if "chat_id" in self.params:
            parts.append(f"chat_id={self.params['chat_id']}")
        if "message_id" in self.params:
            parts.append(f"message_id={self.params['message_id']}")
        text = self.text
        if text is not None:
            short = text if len(text) <= 80 else text[:77] + "..."
            parts.append(f"text={short!r}")
        if "callback_query_id" in self.params:
            parts.append(f"callback_query_id={self.params['callback_query_id']}")
        if self.files:
            parts.append("files=" + ",".join(f"{k}:{v[0]}" for k, v in self.files.items()))
        if self.status is not None and self.status != 200 and self.response:
            parts.append(f"-> {self.status} {self.response.get('description', '')!r}")
        elif self.status is not None and self.status != 200:
            parts.append(f"-> {self.status}")
        return " ".join(parts)
