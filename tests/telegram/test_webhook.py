"""The webhook server in-process: answers after processing, secrets, health, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, Update

from bot.config import WebhookConfig
from bot.db.engine import create_engine, create_session_factory
from bot.telegram.webhook import WebhookServer, webhook_path

SECRET = "s3cret_token-1"


class StubProcessor:
    """Stands in for the ordered processor: runs the coroutine, or fails outside handlers."""

    def __init__(self) -> None:
        self.fail = False

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if self.fail:
            getattr(coroutine, "close", lambda: None)()
            raise RuntimeError("the processor itself failed")
        await coroutine


class StubApp:
    def __init__(self, handler: Callable[[Update], Awaitable[None]]) -> None:
        self.bot = Bot("123456:TEST-TOKEN-webhook-unit")
        self.update_processor = StubProcessor()
        self.handler = handler
        self.seen: list[int] = []

    async def process_update(self, update: Update) -> None:
        self.seen.append(update.update_id)
        await self.handler(update)


def message_update(update_id: int, text: str = "/help") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": 42, "type": "private", "first_name": "A"},
            "from": {"id": 42, "is_bot": False, "first_name": "A"},
            "text": text,
        },
    }


async def noop(update: Update) -> None:
    return None


@pytest.fixture
async def running(
    db: async_sessionmaker[AsyncSession],
) -> AsyncIterator[tuple[WebhookServer, StubApp, httpx.AsyncClient]]:
    app = StubApp(noop)
    server = WebhookServer(
        app,  # type: ignore[arg-type]
        db,
        listen="127.0.0.1",
        port=0,
        path="hook",
        secret_token=SECRET,
    )
    await server.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=20) as client:
        yield server, app, client
    await server.stop(timeout=5)


def post(client: httpx.AsyncClient, body: Any, secret: str | None = SECRET, **kw: Any) -> Any:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    return client.post("/hook", content=content, headers=headers, **kw)


async def test_secret_token_is_required(running) -> None:
    _server, app, client = running
    assert (await post(client, message_update(1), secret=None)).status_code == 403
    assert (await post(client, message_update(2), secret="wrong")).status_code == 403
    assert app.seen == []
    answer = await post(client, message_update(3))
    assert answer.status_code == 200 and answer.json() == {"ok": True}
    assert app.seen == [3]


async def test_bad_bodies(running) -> None:
    _server, app, client = running
    assert (await post(client, b"{not json")).status_code == 400
    # JSON, but not an update python-telegram-bot can read: answered, so Telegram stops
    # resending something that can never be processed; nothing handled.
    assert (await post(client, {"update_id": 7, "message": {"text": "x"}})).status_code == 200
    assert (await client.get("/hook")).status_code == 405
    assert (await client.get("/elsewhere")).status_code == 404
    assert app.seen == []


async def test_answer_waits_for_processing(running) -> None:
    server, app, client = running
    release = asyncio.Event()

    async def slow(update: Update) -> None:
        await release.wait()

    app.handler = slow
    request = asyncio.ensure_future(post(client, message_update(10)))
    await asyncio.sleep(0.3)
    assert not request.done() and server.in_flight == 1
    release.set()
    assert (await request).status_code == 200
    assert server.in_flight == 0


async def test_failure_outside_handlers_asks_for_redelivery(running) -> None:
    _server, app, client = running
    app.update_processor.fail = True
    assert (await post(client, message_update(11))).status_code == 500
    app.update_processor.fail = False
    assert (await post(client, message_update(11))).status_code == 200


async def test_a_resent_update_in_flight_is_processed_once(running) -> None:
    _server, app, client = running
    release = asyncio.Event()

    async def slow(update: Update) -> None:
        await release.wait()

    app.handler = slow
    first = asyncio.ensure_future(post(client, message_update(12)))
    await asyncio.sleep(0.2)
    async with httpx.AsyncClient(base_url=str(client.base_url), timeout=20) as other:
        second = asyncio.ensure_future(post(other, message_update(12)))
        await asyncio.sleep(0.2)
        release.set()
        assert (await first).status_code == 200 and (await second).status_code == 200
    assert app.seen == [12]


async def test_health(running) -> None:
    _server, _app, client = running
    answer = await client.get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok" and body["database"] == "ok"


async def test_health_without_database(tmp_path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    server = WebhookServer(
        StubApp(noop),  # type: ignore[arg-type]
        create_session_factory(engine),
        listen="127.0.0.1",
        port=0,
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            answer = await client.get("/health")
        assert answer.status_code == 503
        assert answer.json()["status"] == "unavailable"
        assert answer.json()["database"].startswith("error")
    finally:
        await server.stop()
        await engine.dispose()


async def test_shutdown_finishes_the_update_in_hand(running) -> None:
    server, app, client = running
    release = asyncio.Event()
    done: list[int] = []

    async def slow(update: Update) -> None:
        await release.wait()
        done.append(update.update_id)

    app.handler = slow
    request = asyncio.ensure_future(post(client, message_update(20)))
    await asyncio.sleep(0.2)
    stopping = asyncio.ensure_future(server.stop(timeout=10))
    await asyncio.sleep(0.2)
    assert not stopping.done()
    # A new update on the open connection is turned away (Telegram retries elsewhere).
    async with httpx.AsyncClient(base_url=str(client.base_url), timeout=5) as other:
        with pytest.raises(httpx.ConnectError):
            await post(other, message_update(21))
    status, body = await server.health()
    assert status == 503 and body["status"] == "stopping"
    release.set()
    assert (await request).status_code == 200
    await stopping
    assert done == [20]


def test_webhook_path() -> None:
    assert webhook_path(WebhookConfig(url="https://bot.example.org/telegram")) == "telegram"
    assert webhook_path(WebhookConfig(url="https://bot.example.org/a/b/")) == "a/b"
    assert webhook_path(WebhookConfig(url="https://bot.example.org")) == "telegram"
    assert webhook_path(WebhookConfig(url="https://x.org/public", path="/internal")) == "internal"


def test_secret_token_is_validated() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        WebhookConfig(secret_token="has spaces")
    assert WebhookConfig(secret_token="ok_token-1").secret_token == "ok_token-1"
