"""End to end: thousands of hostile or malformed updates, then the bot still works.

A seeded random mix of what a hostile or broken client (or a future Bot API) can deliver:
random unicode (right-to-left marks, zero-width characters, emoji, combining marks, HTML
and Markdown look-alikes), texts over 4096 characters, every registered command (and unknown
ones) with junk arguments from members, admins and strangers, in private, in the allowed
group and in foreign groups; callback data that was never issued and presses of real
buttons; votes in polls that do not exist; documents of the wrong type or size; edited
messages; channel posts; membership changes; and updates with fields missing or mistyped.

Afterwards: the process is alive and answers /help, no stack trace reached any chat, no
message failed to render, the token is not in the log, and the points invariants hold.

STUDYBOT_FUZZ_UPDATES (default 2000) and STUDYBOT_FUZZ_SEED (default fixed) change the run.
"""

from __future__ import annotations

import asyncio
import copy
import os
import random
import string
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from telegram.ext import CommandHandler

from bot.config import Config
from bot.db.engine import create_engine, create_session_factory
from tests import factories
from tests.e2e.chat import say
from tests.e2e.harness import BotProcess
from tests.fakebot import BOT_ID, FakeBotAPI, FakeChat, FakeUser
from tests.invariants import assert_invariants

pytestmark = pytest.mark.e2e

COUNT = int(os.environ.get("STUDYBOT_FUZZ_UPDATES", "2000"))
SEED = int(os.environ.get("STUDYBOT_FUZZ_SEED", "20261126"))
ADMIN, LEADER = 9500, 9501
MEMBERS = range(9510, 9530)
STRANGERS = range(9560, 9570)
GROUP = -1009500
FOREIGN = [-1009590, -1009591]
CHANNEL = -1009599

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"
TRICKY = [
    "<b>粗体</b>",
    "<a href='javascript:alert(1)'>x</a>",
    "</code>",
    "*_[`",
    "&amp;&lt;",
    "'; DROP TABLE members; --",
    "../../etc/passwd",
    "%s%s%n",
    "{0}{name}{{}}",
    "\\x00",
    "null",
    "NaN",
    "-1",
    "0",
    "99999999999999999999999",
    "1e309",
    "@nobody",
    "@studybot_test_bot",
    "🏳️‍🌈👨‍👩‍👧‍👦",
    "a\u0301\u0302\u0303\u0304",
    "\u202eetad.exe",
]
JUNK_CALLBACK_PREFIXES = ["reg:", "q:", "lv:", "m:", "ci:", "lb:", "d:", "", "x:"]


def registered_commands() -> list[str]:
    from bot.telegram.app import build_application

    config = Config.model_validate({"telegram": {"token": "123456:TEST-TOKEN"}})
    app = build_application(config, None)  # type: ignore[arg-type]
    return sorted(
        {
            name
            for handlers in app.handlers.values()
            for handler in handlers
            if isinstance(handler, CommandHandler)
            for name in handler.commands
        }
    )


class Fuzzer:
    """Generates and injects one random update at a time."""

    def __init__(self, fake: FakeBotAPI, rng: random.Random, commands: list[str]) -> None:
        self.fake = fake
        self.rng = rng
        self.commands = [*commands, "foo", "start@other_bot", "", "quiz@studybot_test_bot"]
        self.members = [fake.user(tid, f"M{tid}") for tid in MEMBERS]
        self.strangers = [
            fake.user(tid, f"S{tid}", language_code=rng.choice(["en", "zh-hans", "ar", None]))
            for tid in STRANGERS
        ]
        self.admin = fake.user(ADMIN, "Admin")
        self.leader = fake.user(LEADER, "Leader")
        self.group = fake.group(GROUP, "学习群")
        self.foreign = [fake.group(cid, f"外群{cid}") for cid in FOREIGN]
        self.channel = fake.group(CHANNEL, "频道", type="channel")
        self.sent_messages: list[tuple[FakeUser, dict[str, Any]]] = []
        self.kinds: dict[str, int] = {}

    # --- pieces -------------------------------------------------------------------------

    def person(self) -> FakeUser:
        roll = self.rng.random()
        if roll < 0.55:
            return self.rng.choice(self.members)
        if roll < 0.8:
            return self.rng.choice(self.strangers)
        return self.admin if roll < 0.93 else self.leader

    def char(self) -> str:
        pick = self.rng.random()
        if pick < 0.3:
            return self.rng.choice(string.printable)
        if pick < 0.5:
            return chr(self.rng.randint(0x4E00, 0x9FFF))
        if pick < 0.6:
            return chr(self.rng.randint(0x1F300, 0x1FAFF))
        if pick < 0.7:
            return chr(self.rng.randint(0x0590, 0x06FF))
        if pick < 0.78:
            return self.rng.choice(ZERO_WIDTH + BIDI)
        if pick < 0.85:
            return chr(self.rng.randint(0x0300, 0x036F))
        if pick < 0.9:
            return chr(self.rng.randint(0x01, 0x1F))
        return chr(
            self.rng.choice([self.rng.randint(0x00A0, 0xD7FF), self.rng.randint(0xE000, 0xFFFD)])
        )

    def text(self, long: bool | None = None) -> str:
        if long is None:
            long = self.rng.random() < 0.03
        if long:
            return "".join(self.char() for _ in range(self.rng.randint(4097, 6000)))
        roll = self.rng.random()
        if roll < 0.15:
            return self.rng.choice(TRICKY)
        if roll < 0.2:
            return self.rng.choice(["", " ", "\n", ZERO_WIDTH, BIDI])
        return "".join(self.char() for _ in range(self.rng.randint(1, 80)))

    def junk_args(self) -> str:
        parts = []
        for _ in range(self.rng.randint(0, 4)):
            parts.append(self.rng.choice(TRICKY) if self.rng.random() < 0.4 else self.text(False))
        return " ".join(p.replace("\n", " ") for p in parts)

    def bot_message(self, chat_id: int) -> dict[str, Any]:
        stored = [m for m in self.fake.messages(chat_id) if m.get("reply_markup")]
        if stored and self.rng.random() < 0.7:
            return self.rng.choice(stored)
        return {
            "message_id": self.rng.randint(1, 10**6),
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Study"},
            "chat": {"id": chat_id, "type": "private", "first_name": "x"},
            "date": 1_700_000_000,
            "text": "旧消息",
        }

    # --- update kinds ----------------------------------------------------------------------

    def private_text(self) -> None:
        user = self.person()
        _update, message = self.fake.send_text(user, self.text())
        self.sent_messages.append((user, message))

    def command(self) -> None:
        user = self.person()
        name = self.rng.choice(self.commands)
        text = f"/{name} {self.junk_args()}".strip()
        where = self.rng.random()
        chat: FakeChat | None = None
        if where < 0.2:
            chat = self.group
        elif where < 0.25:
            chat = self.rng.choice(self.foreign)
        _update, message = self.fake.send_text(user, text, chat=chat)
        self.sent_messages.append((user, message))

    def callback_never_issued(self) -> None:
        user = self.person()
        data = self.rng.choice(JUNK_CALLBACK_PREFIXES) + self.junk_args()[:60]
        self.fake.inject(
            {
                "callback_query": {
                    "id": str(self.rng.randint(1, 10**12)),
                    "from": user.to_dict(),
                    "chat_instance": str(self.rng.randint(1, 10**9)),
                    "message": self.bot_message(user.id),
                    "data": data.encode("utf-8")[:64].decode("utf-8", "ignore"),
                }
            }
        )

    def press_real_button(self) -> None:
        user = self.rng.choice([*self.members, self.admin])
        stored = [m for m in self.fake.messages(user.id) if self.fake.buttons(m)]
        if not stored:
            return self.private_text()
        message = self.rng.choice(stored)
        buttons = [b for b in self.fake.buttons(message) if b[1]]
        if not buttons:
            return self.private_text()
        self.fake.press(user, message, data=self.rng.choice(buttons)[1])
        return None

    def unknown_poll_answer(self) -> None:
        user = self.person()
        ids = sorted(self.rng.sample(range(4), self.rng.randint(0, 2)))
        answer: dict[str, Any] = {
            "poll_id": str(self.rng.randint(1, 10**15)),
            "user": user.to_dict(),
            "option_ids": ids,
            "option_persistent_ids": [str(i) for i in ids],
        }
        self.fake.inject({"poll_answer": answer})

    def unknown_poll(self) -> None:
        self.fake.inject(
            {
                "poll": {
                    "id": str(self.rng.randint(1, 10**15)),
                    "question": self.text(False)[:300] or "?",
                    "options": [
                        {
                            "text": f"选项{i}",
                            "voter_count": self.rng.randint(0, 3),
                            "persistent_id": str(i),
                        }
                        for i in range(2)
                    ],
                    "total_voter_count": 1,
                    "is_closed": self.rng.random() < 0.5,
                    "is_anonymous": False,
                    "type": "quiz",
                    "allows_multiple_answers": False,
                    "allows_revoting": False,
                    "members_only": False,
                    "correct_option_ids": [0],
                }
            }
        )

    def document(self) -> None:
        user = self.rng.choice([self.admin, self.admin, *self.members[:3], *self.strangers[:2]])
        name = self.rng.choice(
            ["bank.yaml", "bank.yml", "roster.csv", "plan.yaml", "x.xlsx", "evil.exe", "图片.png",
             "noext", ".yaml", "a" * 200 + ".csv", "报告.docx"]
        )  # fmt: skip
        size = self.rng.choice([0, 1, 100, 5000])
        content = bytes(self.rng.getrandbits(8) for _ in range(size))
        if self.rng.random() < 0.3:
            content = self.text(False).encode("utf-8", "surrogatepass")
        if self.rng.random() < 0.004:
            content = b"x" * (6 * 1024 * 1024)  # over the 5 MB limit
        caption = self.rng.choice(["", "/roster", "/plan", "/bank", self.text(False)[:100]])
        chat = self.group if self.rng.random() < 0.1 else None
        self.fake.send_document(user, name, content, caption=caption or None, chat=chat)

    def edited(self) -> None:
        own = [(u, m) for u, m in self.sent_messages if "text" in m]
        if not own:
            return self.private_text()
        user, message = self.rng.choice(own)
        self.fake.edit_text(user, message, self.text())
        return None

    def channel_post(self) -> None:
        self.fake.channel_post(self.channel, self.rng.choice([self.text(), "/help", "/quiz"]))

    def group_chatter(self) -> None:
        user = self.rng.choice(self.members + self.strangers)
        bot_messages = self.fake.messages(GROUP)
        reply_to = (
            self.rng.choice(bot_messages) if bot_messages and self.rng.random() < 0.5 else None
        )
        self.fake.send_text(user, self.text(), chat=self.group, reply_to=reply_to)

    def membership(self) -> None:
        roll = self.rng.random()
        if roll < 0.4:
            chat = FakeChat(self.rng.randint(-(10**12), -(10**10)), "新群")
            self.fake.bot_added_to_group(chat, self.person())
        elif roll < 0.7:
            user = self.rng.choice(self.members)
            self.fake.block(user)
        else:
            user = self.rng.choice(self.members)
            self.fake.unblock(user)

    def malformed(self) -> None:
        user = self.person().to_dict()
        chat = {"id": user["id"], "type": "private", "first_name": "x"}
        shapes: list[dict[str, Any]] = [
            {"message": {"message_id": 1, "date": 0, "text": "/help"}},
            {"message": {"message_id": 2, "date": 0, "chat": chat, "text": "/start"}},
            {"message": {"message_id": 3, "date": 0, "from": user, "text": "/quiz"}},
            {"message": {"text": "no ids"}},
            {"message": "junk"},
            {"message": []},
            {"message": {"message_id": "abc", "date": "yesterday", "chat": chat, "text": "x"}},
            {"message": {"message_id": 4, "date": 0, "chat": {"id": "@x"}, "from": user}},
            {"message": {"message_id": 5, "date": 0, "chat": chat, "from": user,
                         "text": "/me", "entities": [{"type": "bot_command", "offset": 0, "length": 99}]}},
            {"edited_message": {"message_id": 6, "date": 0, "text": "edit without chat"}},
            {"callback_query": {"id": "1", "from": user, "chat_instance": "1", "data": "q:1:a0"}},
            {"callback_query": {"id": "2", "from": user, "data": "reg:1"}},
            {"callback_query": {"id": "3", "chat_instance": "1", "data": "m:1"}},
            {"poll_answer": {"poll_id": "p", "option_ids": [0]}},
            {"poll_answer": {"poll_id": "p", "user": user, "option_ids": "zero"}},
            {"poll": {"id": "p"}},
            {"my_chat_member": {"chat": chat, "from": user, "date": 0}},
            {"chat_member": {"chat": {"id": GROUP, "type": "supergroup", "title": "t"}}},
        ]  # fmt: skip
        self.fake.inject(copy.deepcopy(self.rng.choice(shapes)))

    def one(self) -> None:
        kinds: list[tuple[float, Callable[[], None]]] = [
            (25, self.private_text),
            (30, self.command),
            (8, self.callback_never_issued),
            (8, self.press_real_button),
            (4, self.unknown_poll_answer),
            (2, self.unknown_poll),
            (5, self.document),
            (4, self.edited),
            (3, self.channel_post),
            (4, self.group_chatter),
            (1, self.membership),
            (6, self.malformed),
        ]
        action = self.rng.choices([k for _w, k in kinds], weights=[w for w, _k in kinds])[0]
        self.kinds[action.__name__] = self.kinds.get(action.__name__, 0) + 1
        action()


async def _seed(url: str) -> None:
    engine = create_engine(url)
    db = create_session_factory(engine)
    async with db.begin() as session:
        for tid in MEMBERS:
            await factories.member(
                session, f"成员{tid}", dept="办公室" if tid % 2 else "宣传科", telegram_id=tid
            )
        await factories.member(session, "领导", telegram_id=LEADER)
        await factories.bank(session, "sample", "样例题库")
    await engine.dispose()


@pytest.fixture(scope="module")
def bot(fake_bot: FakeBotAPI, module_database_url: str, tmp_path_factory) -> Iterator[BotProcess]:
    asyncio.run(_seed(module_database_url))
    process = BotProcess(
        fake_bot,
        tmp_path=tmp_path_factory.mktemp("fuzz"),
        database_url=module_database_url,
        config={
            "departments": ["办公室", "宣传科"],
            "admins": [ADMIN],
            "leaders": [LEADER],
            "groups": [GROUP],
        },
    )
    process.start()
    yield process
    process.terminate()


def test_hostile_updates_leave_the_bot_working_and_consistent(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    rng = random.Random(SEED)
    fuzzer = Fuzzer(fake_bot, rng, registered_commands())
    start = fake_bot.mark()
    for done in range(1, COUNT + 1):
        fuzzer.one()
        if done % 250 == 0:  # let the bot keep up (and real buttons exist to press)
            bot.wait_handled(timeout=120)
    bot.wait_handled(timeout=180)
    context = f"seed {SEED}, {COUNT} updates {sorted(fuzzer.kinds.items())}"

    assert bot.running, f"{context}\n{bot.log_tail()}"
    member = fake_bot.user(MEMBERS[0], "M")
    assert "你可以" in (say(fake_bot, member, "/help").text or ""), context
    stranger = fake_bot.user(9599, "New", language_code="en")
    assert "/start" in (say(fake_bot, stranger, "/help").text or ""), context

    sent = [
        c for c in fake_bot.calls(since=start) if c.method in ("sendMessage", "editMessageText")
    ]
    assert len(sent) > COUNT // 4, context
    traces = [
        c.describe() for c in sent if "Traceback" in (c.text or "") or 'File "' in (c.text or "")
    ]
    assert not traces, f"{context}: {traces[:3]}"
    unrendered = [
        c.describe()
        for c in sent
        if c.status == 400 and "parse entities" in str((c.response or {}).get("description"))
    ]
    assert not unrendered, f"{context}: {unrendered[:3]}"
    to_foreign = [c.describe() for c in sent if c.chat_id in FOREIGN]
    assert not to_foreign, f"{context}: {to_foreign[:3]}"
    log = bot.log_text()
    assert fake_bot.token not in log
    assert "uncaught exception" not in log
    assert_invariants(module_database_url)
