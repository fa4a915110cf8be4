"""Bot API requests over aiohttp, against the fake Bot API: results, files, errors."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.telegram.http import AiohttpRequest
from tests.fakebot import FakeBotAPI

CHAT = 4242


@pytest.fixture
async def bot(fake_bot: FakeBotAPI) -> AsyncIterator[Bot]:
    fake_bot.user(CHAT, "Http")
    instance = Bot(
        fake_bot.token,
        base_url=fake_bot.base_url,
        base_file_url=fake_bot.base_file_url,
        request=AiohttpRequest(connection_pool_size=4),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
    )
    async with instance:
        yield instance


async def test_send_and_edit_a_message_with_buttons(bot: Bot, fake_bot: FakeBotAPI) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="q:1:a0")]])
    sent = await bot.send_message(CHAT, "第 1/5 题 · 单选\n题干", reply_markup=markup)
    assert sent.text.startswith("第 1/5 题") and sent.chat.id == CHAT
    stored = fake_bot.message(CHAT, sent.message_id)
    assert stored is not None and fake_bot.buttons(stored) == [("A", "q:1:a0")]
    edited = await bot.edit_message_text("已作答", chat_id=CHAT, message_id=sent.message_id)
    assert not isinstance(edited, bool) and edited.text == "已作答"
    assert not fake_bot.buttons(fake_bot.message(CHAT, sent.message_id))  # type: ignore[arg-type]


async def test_upload_and_download_files(bot: Bot, fake_bot: FakeBotAPI) -> None:
    content = "题库,内容\n".encode() * 1000
    sent = await bot.send_document(CHAT, content, filename="bank.csv", caption="导出")
    call = fake_bot.calls("sendDocument")[-1]
    assert fake_bot.sent_document(call) == ("bank.csv", content)
    assert call.params.get("caption") == "导出"
    _update, message = fake_bot.send_document(CHAT, "roster.yaml", b"members: []\n")
    file = await bot.get_file(message["document"]["file_id"])
    assert bytes(await file.download_as_bytearray()) == b"members: []\n"
    assert sent.document is not None


async def test_telegram_errors_keep_their_meaning(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(999_999_999, "nobody")


async def test_a_slow_answer_is_a_timeout(bot: Bot, fake_bot: FakeBotAPI) -> None:
    fake_bot.delay("sendMessage", 2.0, before=True)
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "slow", read_timeout=0.3)


async def test_no_free_connection_is_a_pool_timeout(fake_bot: FakeBotAPI) -> None:
    fake_bot.user(CHAT, "Http")
    request = AiohttpRequest(connection_pool_size=1, pool_timeout=0.2)
    instance = Bot(fake_bot.token, base_url=fake_bot.base_url, request=request)
    async with instance:
        fake_bot.delay("sendMessage", 1.0, before=True)
        first = asyncio.create_task(instance.send_message(CHAT, "first"))
        await asyncio.sleep(0.1)
        with pytest.raises(TimedOut, match="Pool timeout"):
            await instance.send_message(CHAT, "second")
        assert (await first).text == "first"


async def test_an_unreachable_server_is_a_network_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    request = AiohttpRequest(connect_timeout=2)
    await request.initialize()
    try:
        with pytest.raises(NetworkError):
            await request.post(f"http://127.0.0.1:{port}/bot1:x/getMe")
    finally:
        await request.shutdown()


async def test_requests_need_initialising() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError):
        await request.do_request("http://127.0.0.1:9/x", "POST")
    assert request.read_timeout == 5.0
