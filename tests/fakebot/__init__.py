"""A local fake of the Telegram Bot API for end-to-end tests of the bot.

The bot process is pointed at it with ``telegram.base_url`` / ``telegram.base_file_url``
and talks to it over real HTTP exactly as it would to api.telegram.org: the same request
encodings, the same JSON answers (complete enough for python-telegram-bot 22.8 to parse),
the same error descriptions and status codes, long polling and webhook delivery. Tests
inject user activity (messages, button presses, poll votes, uploads) and inspect what the
bot sent, waiting for it where needed.

    with FakeBotAPI() as fake:
        alice = fake.user(1001, "Alice")
        ...start the bot with fake.base_url / fake.base_file_url...
        since = fake.mark()
        fake.send_text(alice, "/start")
        call = fake.wait_for("sendMessage", since=since, chat_id=alice.id)
"""

from .errors import ApiError
from .markup import EntityParseError, format_text, utf16_len
from .models import BOT_ID, BOT_USERNAME, Call, FakeChat, FakeUser
from .server import FakeBotAPI

__all__ = [
    "BOT_ID",
    "BOT_USERNAME",
    "ApiError",
    "Call",
    "EntityParseError",
    "FakeBotAPI",
    "FakeChat",
    "FakeUser",
    "format_text",
    "utf16_len",
]
