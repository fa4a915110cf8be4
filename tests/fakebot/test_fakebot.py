"""The fake Bot API must answer python-telegram-bot 22.8 the way Telegram does.

Every test drives a real ``telegram.Bot`` or ``telegram.ext.Application`` over HTTP and
parses the answers into PTB objects: if the fake left out a field PTB requires, or used
the wrong status code, these tests fail before any end-to-end test of the bot is misled.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import socket
import struct
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    CallbackQuery,
    ChatFullInfo,
    ChatMemberMember,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Poll,
    PollAnswer,
    Update,
    User,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PollAnswerHandler,
    filters,
)

from tests.fakebot import BOT_ID, BOT_USERNAME, FakeBotAPI

# PTB warns on every RetryAfter about the future type of ``retry_after``; not the fake's doing.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


def _keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in pairs])


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _raw(
    fake: FakeBotAPI, method: str, *, token: str | None = None, **params: Any
) -> tuple[int, Any]:
    url = f"{fake.url}/bot{token or fake.token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, json=params) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


# --------------------------------------------------------------------------- identity


async def test_get_me_and_routing(fake: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert isinstance(me, User)
    assert (me.id, me.is_bot, me.username) == (BOT_ID, True, BOT_USERNAME)
    assert me.can_join_groups is True and me.can_read_all_group_messages is False
    assert me.supports_inline_queries is False

    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    assert await _raw(fake, "noSuchMethod") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    assert (await _raw(fake, "GETME"))[1]["result"]["id"] == BOT_ID
    assert await _raw(fake, "getMe", token="1:WRONG") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    with pytest.raises(InvalidToken):
        async with Bot("1:WRONG", base_url=fake.base_url):
            pass


# --------------------------------------------------------------------- messages


async def test_message_keyboard_press_and_edit(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice", username="alice")
    sent = await bot.send_message(
        alice.id, "<b>第 1/5 题</b> 单选", parse_mode="HTML", reply_markup=_keyboard(("A", "a1:0"))
    )
    assert isinstance(sent, Message)
    assert sent.text == "第 1/5 题 单选"
    assert sent.entities[0].type == "bold" and sent.entities[0].length == 7
    assert sent.from_user is not None and sent.from_user.id == BOT_ID

    call = fake.wait_for("sendMessage", chat_id=alice.id)
    assert call.params["chat_id"] == alice.id
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a1:0"
    stored = fake.last_message(alice.id)
    assert stored is not None and fake.buttons(stored) == [("A", "a1:0")]

    edited = await bot.edit_message_text(
        "第 1/5 题 · 已作答",
        chat_id=alice.id,
        message_id=sent.message_id,
        reply_markup=_keyboard(("A ✅", "a1:0")),
    )
    assert isinstance(edited, Message) and edited.edit_date is not None

    update = fake.press(alice, stored, text="A")
    parsed = Update.de_json(update, bot)
    assert isinstance(parsed.callback_query, CallbackQuery)
    assert parsed.callback_query.data == "a1:0"
    assert parsed.callback_query.chat_instance
    assert parsed.callback_query.message.text == "第 1/5 题 · 已作答"  # as currently stored
    assert await bot.answer_callback_query(parsed.callback_query.id, text="ok") is True
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(parsed.callback_query.id)
    with pytest.raises(AssertionError, match=r"(?i)no inline button"):
        fake.press(alice, stored, text="Z")

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "第 1/5 题 · 已作答",
            chat_id=alice.id,
            message_id=sent.message_id,
            reply_markup=_keyboard(("A ✅", "a1:0")),
        )
    # Editing without reply_markup removes the keyboard, as on Telegram.
    await bot.edit_message_text("完成", chat_id=alice.id, message_id=sent.message_id)
    assert fake.buttons(stored) == []
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=999)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(chat_id=alice.id, message_id=sent.message_id)

    assert await bot.delete_message(alice.id, sent.message_id) is True
    assert fake.messages(alice.id) == []
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(alice.id, sent.message_id)


async def test_user_messages_and_replies(fake: FakeBotAPI, bot: Bot) -> None:
    bob = fake.user(1002, "Bob", language_code="en")
    prompt = await bot.send_message(bob.id, "请输入姓名")
    update, msg = fake.send_text(bob, "/start@studybot_test_bot ci_42")
    parsed = Update.de_json(update, bot)
    assert parsed.message.text == "/start@studybot_test_bot ci_42"
    assert parsed.message.entities[0].type == "bot_command"
    assert parsed.message.entities[0].length == len("/start@studybot_test_bot")
    assert parsed.message.from_user.language_code == "en"

    stored_prompt = fake.message(bob.id, prompt.message_id)
    update, msg = fake.send_text(bob, "张三", reply_to=stored_prompt)
    parsed = Update.de_json(update, bot)
    assert parsed.message.reply_to_message.message_id == prompt.message_id
    assert parsed.message.reply_to_message.from_user.id == BOT_ID

    update, _ = fake.edit_text(bob, msg, "张三丰")
    assert Update.de_json(update, bot).edited_message.text == "张三丰"

    reply = await bot.send_message(bob.id, "收到", reply_to_message_id=msg["message_id"])
    assert reply.reply_to_message.text == "张三丰"
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(bob.id, "x", reply_to_message_id=12345)


async def test_validation_matches_telegram(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice")
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(alice.id, "   ")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(alice.id, "字" * 4097)
    assert (await bot.send_message(alice.id, "字" * 4096)).text == "字" * 4096
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(alice.id, "x", reply_markup=_keyboard(("A", "x" * 65)))
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(alice.id, "x", reply_markup=_keyboard(("A", "题" * 22)))
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(424242, "hello")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: Unsupported start tag"):
        await bot.send_message(alice.id, "1 < 2 <br>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)Character '.' is reserved"):
        await bot.send_message(alice.id, "Done.", parse_mode="MarkdownV2")
    assert (await bot.send_message(alice.id, "1 &lt; 2", parse_mode="HTML")).text == "1 < 2"


# ------------------------------------------------------------------------ files


async def test_document_and_photo_round_trip(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice")
    content = "bank: demo\n题目: 一\n".encode()
    msg = await bot.send_document(
        alice.id, InputFile(content, filename="报告.yaml"), caption="季度报告"
    )
    assert msg.document is not None
    assert msg.document.file_name == "报告.yaml"
    assert msg.document.file_size == len(content)
    assert msg.caption == "季度报告"
    call = fake.wait_for("sendDocument")
    assert fake.sent_document(call) == ("报告.yaml", content)

    tg_file = await bot.get_file(msg.document.file_id)
    assert tg_file.file_size == len(content)
    assert bytes(await tg_file.download_as_bytearray()) == content

    # Resending by file_id reuses the stored file.
    again = await bot.send_document(alice.id, msg.document.file_id)
    assert again.document.file_unique_id == msg.document.file_unique_id

    # A document the user uploads can be fetched the same way.
    update, _ = fake.send_document(alice, "bank.csv", b"id,type\nq1,single\n", caption="/roster")
    parsed = Update.de_json(update, bot)
    assert parsed.message.document.mime_type == "text/csv"
    assert parsed.message.caption_entities[0].type == "bot_command"
    user_file = await parsed.message.document.get_file()
    buf = bytearray()
    await user_file.download_to_memory(_ByteSink(buf))
    assert bytes(buf) == b"id,type\nq1,single\n"

    photo = await bot.send_photo(alice.id, _png(400, 200))
    assert photo.photo[-1].width == 400 and photo.photo[-1].height == 200
    with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(alice.id, b"not an image")
    with pytest.raises(BadRequest, match=r"(?i)wrong file_id"):
        await bot.get_file("nope")


class _ByteSink:
    def __init__(self, buf: bytearray) -> None:
        self.buf = buf

    def write(self, data: bytes) -> int:
        self.buf.extend(data)
        return len(data)


# ------------------------------------------------------------------------- polls


async def test_quiz_poll_answer_and_stop(fake: FakeBotAPI, bot: Bot) -> None:
    group = fake.group(-100777, "学习一组")
    alice = fake.user(1001, "Alice")
    bob = fake.user(1002, "Bob")
    msg = await bot.send_poll(
        group.id,
        "保密工作的方针是？",
        ["积极防范", "突出重点", "依法管理"],
        type="quiz",
        is_anonymous=False,
        correct_option_ids=[1],
        explanation="见保密法第四条",
        open_period=30,
    )
    poll = msg.poll
    assert isinstance(poll, Poll)
    assert poll.type == "quiz" and poll.is_anonymous is False
    assert poll.correct_option_ids == (1,)
    assert [o.persistent_id for o in poll.options] == ["0", "1", "2"]
    assert poll.allows_revoting is False and poll.members_only is False
    assert poll.close_date is not None and poll.explanation == "见保密法第四条"

    update = fake.answer_poll(alice, poll.id, [1])
    answer = Update.de_json(update, bot).poll_answer
    assert isinstance(answer, PollAnswer)
    assert answer.option_ids == (1,) and answer.option_persistent_ids == ("1",)
    assert answer.user.id == alice.id
    fake.answer_poll(bob, poll.id, [0])
    with pytest.raises(AssertionError, match=r"(?i)does not allow changing"):
        fake.answer_poll(bob, poll.id, [2])

    stopped = await bot.stop_poll(group.id, msg.message_id)
    assert stopped.is_closed is True
    assert stopped.total_voter_count == 2
    assert [o.voter_count for o in stopped.options] == [1, 1, 0]
    with pytest.raises(BadRequest, match=r"(?i)poll has already been closed"):
        await bot.stop_poll(group.id, msg.message_id)
    with pytest.raises(AssertionError, match=r"(?i)closed"):
        fake.answer_poll(alice, poll.id, [0])

    kinds = [next(k for k in u if k != "update_id") for u in fake.updates]
    assert kinds == ["poll_answer", "poll", "poll_answer", "poll", "poll"]
    for raw in fake.updates:
        Update.de_json(raw, bot)  # every poll state parses

    # The legacy correct_option_id is still accepted; limits come from PTB's constants.
    with pytest.warns(DeprecationWarning, match=r"correct_option_id"):
        legacy = await bot.send_poll(group.id, "Q", ["a", "b"], type="quiz", correct_option_id=0)
    assert legacy.poll.correct_option_ids == (0,)
    with pytest.raises(BadRequest, match=r"(?i)poll question length must not exceed 300"):
        await bot.send_poll(group.id, "问" * 301, ["a", "b"])
    with pytest.raises(BadRequest, match=r"(?i)poll options length must not exceed 100"):
        await bot.send_poll(group.id, "Q", ["a", "b" * 101])
    with pytest.raises(BadRequest, match=r"(?i)more than 12 options"):
        await bot.send_poll(group.id, "Q", [str(i) for i in range(13)])
    with pytest.raises(BadRequest, match=r"(?i)at most 200 characters"):
        await bot.send_poll(
            group.id, "Q", ["a", "b"], type="quiz", correct_option_ids=[0], explanation="x" * 201
        )
    with pytest.raises(BadRequest, match=r"(?i)correct quiz option list must be non-empty"):
        await bot.send_poll(group.id, "Q", ["a", "b"], type="quiz")


async def test_regular_poll_multiple_and_revote(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice")
    msg = await bot.send_poll(
        alice.id, "多选", ["A", "B", "C"], is_anonymous=False, allows_multiple_answers=True
    )
    assert msg.poll.allows_revoting is True
    fake.answer_poll(alice, msg.poll.id, [2, 0])
    update = fake.answer_poll(alice, msg.poll.id, [])
    assert Update.de_json(update, bot).poll_answer.option_ids == ()
    assert fake.poll(msg.poll.id)["total_voter_count"] == 0
    closed = Update.de_json(fake.close_poll(msg.poll.id), bot).poll
    assert closed.is_closed is True


# ----------------------------------------------------------------- chats, commands


async def test_commands_chats_and_members(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice")
    group = fake.group(-100555, "宣传科")
    zh = [BotCommand("quiz", "每日答题"), BotCommand("me", "我的积分")]
    en = [BotCommand("quiz", "Daily quiz"), BotCommand("me", "My points")]
    assert await bot.set_my_commands(en) is True
    assert await bot.set_my_commands(zh, language_code="zh") is True
    assert await bot.set_my_commands(zh[:1], scope=BotCommandScopeAllGroupChats()) is True
    got = await bot.get_my_commands(language_code="zh")
    assert [(c.command, c.description) for c in got] == [("quiz", "每日答题"), ("me", "我的积分")]
    assert set(fake.commands) == {"", "zh"}
    assert fake.commands_for({"type": "all_group_chats"}) == [
        {"command": "quiz", "description": "每日答题"}
    ]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Quiz", "x")])
    assert await bot.delete_my_commands(language_code="zh") is True
    assert await bot.get_my_commands(language_code="zh") == ()

    info = await bot.get_chat(alice.id)
    assert isinstance(info, ChatFullInfo) and info.first_name == "Alice"
    assert (await bot.get_chat(group.id)).title == "宣传科"
    fake.send_text(alice, "/help", chat=group)
    member = await bot.get_chat_member(group.id, alice.id)
    assert isinstance(member, ChatMemberMember)
    fake.set_member(group, alice, "administrator")
    assert (await bot.get_chat_member(group.id, alice.id)).status == "administrator"
    assert await bot.send_chat_action(alice.id, "typing") is True
    assert await bot.set_chat_menu_button() is True
    assert await bot.pin_chat_message(group.id, (await bot.send_message(group.id, "x")).message_id)

    update = fake.bot_added_to_group(fake.group(-100556, "新群", bot_status="left"), alice)
    change = Update.de_json(update, bot).my_chat_member
    assert isinstance(change, ChatMemberUpdated)
    assert change.new_chat_member.status == "member"
    assert await bot.leave_chat(group.id) is True
    with pytest.raises(Forbidden, match=r"(?i)not a member"):
        await bot.send_message(group.id, "still there?")
    for raw in fake.updates:
        Update.de_json(raw, bot)
    assert await bot.close() is True and await bot.log_out() is True


# ---------------------------------------------------------------------- errors


async def test_injected_errors(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice")
    fake.fail("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(alice.id, "x")
    assert info.value.retry_after in (7, dtm.timedelta(seconds=7))
    assert fake.calls("sendMessage")[-1].response["parameters"] == {"retry_after": 7}

    fake.fail("send_message", status=403)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(alice.id, "x")
    fake.fail("sendMessage", status=502, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match=r"(?i)Bad Gateway"):
            await bot.send_message(alice.id, "x")
    fake.fail("sendMessage", status=400, migrate_to_chat_id=-100999, chat_id=-4242)
    fake.group(-4242, "old group", type="group")
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(-4242, "x")
    assert migrated.value.new_chat_id == -100999
    assert (await bot.send_message(alice.id, "ok")).text == "ok"

    fake.block(alice)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(alice.id, "x")
    blocked = Update.de_json(fake.updates[-1], bot).my_chat_member
    assert blocked.new_chat_member.status == "kicked"
    fake.send_text(alice, "/start")  # writing to the bot again means it was unblocked
    assert (await bot.send_message(alice.id, "欢迎回来")).text == "欢迎回来"

    fake.delay("sendMessage", 1.0)
    with pytest.raises(TimedOut):
        await bot.send_message(alice.id, "slow", read_timeout=0.2)
    # The message was sent although the client timed out, as with Telegram.
    assert fake.last_message(alice.id)["text"] == "slow"


async def test_enforced_flood_limits() -> None:
    with FakeBotAPI(enforce_limits=True, overall_per_second=5, group_per_minute=2) as fake:
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            alice = fake.user(1001, "Alice")
            group = fake.group(-100321, "一组")
            results = await asyncio.gather(
                *(bot.send_message(alice.id, f"m{i}") for i in range(8)), return_exceptions=True
            )
            flooded = [r for r in results if isinstance(r, RetryAfter)]
            assert len(flooded) == 3
            assert fake.flood_429_count == 3
            await asyncio.sleep(1.05)
            await bot.send_message(group.id, "1")
            await bot.send_message(group.id, "2")
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(group.id, "3")
            retry = info.value.retry_after
            seconds = retry.total_seconds() if isinstance(retry, dtm.timedelta) else retry
            assert 55 <= seconds <= 60
            assert fake.flood_429_count == 4


# --------------------------------------------------------------- delivery modes


async def test_get_updates_long_poll_offsets_and_replay(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice")
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert time.monotonic() - started >= 0.9

    async def later() -> None:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(fake.send_text, alice, "你好")

    task = asyncio.create_task(later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5, allowed_updates=["message", "callback_query"])
    await task
    assert time.monotonic() - started < 3
    assert [u.message.text for u in updates] == ["你好"]
    assert fake.allowed_updates == ["message", "callback_query"]

    first_id = updates[0].update_id
    # Unconfirmed updates come again; an offset confirms them.
    assert [u.update_id for u in await bot.get_updates()] == [first_id]
    assert await bot.get_updates(offset=first_id + 1) == ()

    fake.replay(first_id)
    assert [u.update_id for u in await bot.get_updates(offset=first_id + 1)] == [first_id]
    assert await bot.get_updates(offset=first_id + 1) == ()

    # allowed_updates is sticky: a poll_answer is dropped when not subscribed.
    msg = await bot.send_poll(alice.id, "Q", ["a", "b"], is_anonymous=False)
    fake.answer_poll(alice, msg.poll.id, [0])
    assert await bot.get_updates(offset=first_id + 1) == ()
    assert {next(k for k in u if k != "update_id") for u in fake.dropped_updates} == {
        "poll",
        "poll_answer",
    }

    raw = fake.inject({"message": {"message_id": 9, "date": 0, "chat": {"id": 1, "type": "x"}}})
    (got,) = await bot.get_updates(offset=first_id + 1)
    assert got.update_id == raw["update_id"]


async def test_two_pollers_conflict(fake: FakeBotAPI, bot: Bot) -> None:
    async with Bot(fake.token, base_url=fake.base_url) as other:
        first = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.2)
        second = asyncio.create_task(other.get_updates(timeout=0))
        with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates request"):
            await first
        assert await second == ()
    assert fake.conflict_count == 1


async def test_webhook_delivery(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice")
    received: dict[str, list[tuple[dict[str, Any], str | None]]] = {"a": [], "b": []}
    status = {"a": 200, "b": 200}

    def make_handler(name: str):
        async def handler(request: web.Request) -> web.Response:
            body = await request.json()
            received[name].append((body, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
            return web.Response(status=status[name])

        return handler

    runners = []
    urls = {}
    for name in ("a", "b"):
        app = web.Application()
        app.router.add_post("/hook", make_handler(name))
        runner = web.AppRunner(app)
        await runner.setup()
        port = _free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        urls[name] = f"http://127.0.0.1:{port}/hook"
    try:
        assert await bot.set_webhook(
            urls["a"], secret_token="s3cr3t", allowed_updates=Update.ALL_TYPES
        )
        with pytest.raises(
            Conflict, match=r"(?i)can't use getUpdates method while webhook is active"
        ):
            await bot.get_updates()

        fake.send_text(alice, "/start")
        await asyncio.to_thread(fake.wait_delivered)
        ((body, secret),) = received["a"]
        assert secret == "s3cr3t"
        assert Update.de_json(body, bot).message.text == "/start"

        fake.replay(body["update_id"])
        await asyncio.to_thread(fake.wait_delivered)
        assert [b["update_id"] for b, _ in received["a"]] == [body["update_id"]] * 2

        # A load balancer in front of two replicas; a failing replica's update is retried.
        fake.webhook_targets = [urls["a"], urls["b"]]
        status["a"] = 500
        for i in range(4):
            fake.send_text(alice, f"m{i}")
        await asyncio.to_thread(fake.wait_delivered)
        texts_b = [b["message"]["text"] for b, _ in received["b"]]
        assert texts_b == ["m0", "m1", "m2", "m3"]
        info = await bot.get_webhook_info()
        assert info.url == urls["a"] and info.pending_update_count == 0
        assert info.last_error_message and "500" in info.last_error_message

        assert await bot.delete_webhook() is True
        assert (await bot.get_webhook_info()).url == ""
        fake.send_text(alice, "after")
        assert [u.message.text for u in await bot.get_updates()] == ["after"]
    finally:
        for runner in runners:
            await runner.cleanup()


async def test_application_polling_reaches_handlers(fake: FakeBotAPI) -> None:
    alice = fake.user(1001, "Alice")
    seen: list[str] = []
    all_seen = asyncio.Event()

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append("start")
        await update.effective_message.reply_text("选择", reply_markup=_keyboard(("对", "j:1")))

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(f"press:{update.callback_query.data}")
        await update.callback_query.answer("已记录")
        await update.callback_query.edit_message_text("已作答")

    async def voted(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(f"vote:{list(update.poll_answer.option_ids)}")
        if len(seen) == 5:
            all_seen.set()

    async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(f"text:{update.effective_message.text}")
        if len(seen) == 5:
            all_seen.set()

    app = (
        Application.builder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    app.add_handler(PollAnswerHandler(voted))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, text))
    async with app:
        await app.updater.start_polling(
            poll_interval=0, timeout=1, allowed_updates=Update.ALL_TYPES
        )
        await app.start()
        try:
            since = fake.mark()
            fake.send_text(alice, "/start")
            call = await fake.wait_for_async("sendMessage", since=since, chat_id=alice.id)
            assert call.text == "选择"
            fake.press(alice, call.result, data="j:1")
            await fake.wait_for_async("editMessageText", since=since)
            assert fake.callback_answers and fake.last_message(alice.id)["text"] == "已作答"

            msg = await app.bot.send_poll(alice.id, "Q", ["a", "b"], is_anonymous=False)
            update = fake.answer_poll(alice, msg.poll.id, [1])
            fake.send_text(alice, "hello")
            fake.replay(update["update_id"])
            await asyncio.wait_for(all_seen.wait(), 5)
        finally:
            await app.updater.stop()
            await app.stop()
    assert seen[:3] == ["start", "press:j:1", "vote:[1]"]
    assert sorted(seen[3:]) == ["text:hello", "vote:[1]"]
    assert fake.allowed_updates == list(Update.ALL_TYPES)


def test_privacy_mode_in_groups() -> None:
    with FakeBotAPI() as fake:
        alice = fake.user(1001, "Alice")
        group = fake.group(-100888, "讨论组")
        assert fake.send_text(alice, "随便聊聊", chat=group)[0] is None
        assert fake.send_text(alice, "/leaderboard", chat=group)[0] is not None
        assert fake.send_text(alice, "/quiz@other_bot", chat=group)[0] is None
        assert fake.send_text(alice, f"/quiz@{BOT_USERNAME}", chat=group)[0] is not None
        fake.set_bot_status(group, "administrator")
        assert fake.send_text(alice, "admins see all", chat=group)[0] is not None


def test_wait_for_reports_recent_calls() -> None:
    with FakeBotAPI() as fake:
        with pytest.raises(AssertionError, match=r"(?i)expected 1 call"):
            fake.wait_for("sendMessage", timeout=0.1)
        fake.assert_no_call("sendMessage", since=fake.mark(), within=0.1)


async def test_request_encodings_are_decoded(fake: FakeBotAPI) -> None:
    """Form (as PTB sends), JSON bodies and query strings all reach the same typed params."""
    alice = fake.user(1001, "Alice")
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "1"}]]}
    async with aiohttp.ClientSession() as session:
        base = f"{fake.base_url}{fake.token}"
        form = {
            "chat_id": "1001",
            "text": "123",
            "disable_notification": "true",
            "reply_markup": json.dumps(markup),
        }
        async with session.post(f"{base}/sendMessage", data=form) as resp:
            assert resp.status == 200
        async with session.post(f"{base}/sendmessage", json={"chat_id": 1001, "text": "4"}) as r:
            assert (await r.json())["result"]["text"] == "4"
        async with session.get(f"{base}/sendMessage", params={"chat_id": "1001", "text": "5"}) as r:
            assert (await r.json())["result"]["chat"]["id"] == alice.id
        async with session.post(f"{base}/sendMessage", data={"chat_id": "1001", "text": ""}) as r:
            assert await r.json() == {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message text is empty",
            }
    first, second, third, _ = fake.calls("sendMessage")
    assert first.params == {
        "chat_id": 1001,
        "text": "123",
        "disable_notification": True,
        "reply_markup": markup,
    }
    assert second.method == "sendMessage" and second.params["chat_id"] == 1001
    assert third.params["text"] == "5"


async def test_exact_error_bodies(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice")
    sent = await bot.send_message(alice.id, "x")
    with pytest.raises(BadRequest):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=sent.message_id)
    assert fake.calls("editMessageText")[-1].response == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: message is not modified: specified new message content "
        "and reply markup are exactly the same as a current content and reply markup of the "
        "message",
    }
    fake.fail("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter):
        await bot.send_message(alice.id, "x")
    assert fake.calls("sendMessage")[-1].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    fake.fail("getMe", status=502)
    status, body = await _raw(fake, "getMe")
    assert status == 502 and "<title>502 Bad Gateway</title>" in body


async def test_lenient_chats_and_channels() -> None:
    with FakeBotAPI(strict_chats=False) as fake:
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            assert (await bot.send_message(5555, "hi")).chat.type == "private"
            assert (await bot.send_message(-100123, "hi")).chat.type == "supergroup"
            channel = fake.group(-100999, "公告", type="channel", username="notice")
            post = await bot.send_message("@notice", "公告内容")
            assert post.sender_chat.id == channel.id and post.from_user is None
            update, _ = fake.channel_post(channel, "/start")
            assert Update.de_json(update, bot).channel_post.text == "/start"


async def test_application_webhook_mode(fake: FakeBotAPI) -> None:
    """PTB's own webhook server accepts the fake's deliveries (secret header, JSON body)."""
    alice = fake.user(1001, "Alice")
    got: list[str] = []
    done = asyncio.Event()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        got.append(update.effective_message.text)
        await update.effective_message.reply_text("ok")
        done.set()

    app = Application.builder().token(fake.token).base_url(fake.base_url).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    port = _free_port()
    async with app:
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="tg",
            webhook_url=f"http://127.0.0.1:{port}/tg",
            secret_token="s3cr3t",
            allowed_updates=Update.ALL_TYPES,
        )
        await app.start()
        try:
            assert fake.webhook == {
                "url": f"http://127.0.0.1:{port}/tg",
                "secret_token": "s3cr3t",
                "max_connections": 40,
                "ip_address": None,
                "has_custom_certificate": False,
            }
            fake.send_text(alice, "你好")
            await asyncio.wait_for(done.wait(), 5)
        finally:
            await app.updater.stop()
            await app.stop()
    assert got == ["你好"]
    assert fake.webhook_deliveries[-1][2] == 200
