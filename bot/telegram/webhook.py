"""Webhook mode: Telegram POSTs each update here, and hears back only once it is processed.

python-telegram-bot's own webhook server queues the update and answers 200 at once, so a
crash between the answer and the processing loses the update. Here the answer waits for the
processing: a crash (or a failure outside the handlers) before it makes Telegram deliver the
update again, and ``processed_updates`` makes that second delivery harmless — at-least-once
delivery, exactly-once effects. That holds across replicas too: any replica may receive the
redelivery, and all state is in the shared database.

Routes:

- ``POST /<path>``: one update. 403 without the configured secret token (header
  ``X-Telegram-Bot-Api-Secret-Token``), 400 for a body that is not JSON, 503 while shutting
  down (Telegram retries, another replica takes it), otherwise 200 after processing.
- ``GET /health``: readiness. 200 ``{"status": "ok", "database": "ok"}`` when ``SELECT 1``
  succeeds; 503 when the database does not answer or the server is shutting down.

SIGTERM: stop listening, answer 503 to requests on open connections, finish the updates in
hand, then return (scheduled state is in the database and is left as it is; the webhook stays
set, because the other replicas keep serving it).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import tornado.web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application, ExtBot
from tornado.httpserver import HTTPServer

from bot.config import ConfigError, WebhookConfig
from bot.logging_setup import add_secret
from bot.telegram.polling import ALLOWED_UPDATES

log = logging.getLogger("studybot.webhook")

MAX_BODY_BYTES = 1024 * 1024  # an update is a few kilobytes; anything bigger is not Telegram
HEALTH_TIMEOUT = 3.0  # seconds; probes (compose, nginx, Kubernetes) usually allow 5
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_path(webhook: WebhookConfig) -> str:
    """The path served: ``webhook.path``, else the path of ``webhook.url``, else ``telegram``."""
    path = webhook.path
    if not path and webhook.url:
        path = urlsplit(webhook.url).path
    path = (path or "").strip("/")
    return path or "telegram"


class _Base(tornado.web.RequestHandler):
    server: WebhookServer

    def initialize(self, server: WebhookServer) -> None:
        self.server = server

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")

    async def answer(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        await self.finish(json.dumps(body))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # Tornado's default prints the request (headers included: the secret token).
        if isinstance(value, tornado.web.HTTPError):
            return
        log.error("webhook request failed: %s", value, exc_info=(typ, value, tb))


class UpdateHandler(_Base):
    async def post(self) -> None:
        server = self.server
        if not server.accepting:
            await self.answer(
                HTTPStatus.SERVICE_UNAVAILABLE, {"ok": False, "error": "shutting down"}
            )
            return
        if server.secret_token is not None:
            given = self.request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), server.secret_token.encode()):
                log.warning(
                    "refused a webhook request from %s: %s secret token",
                    self.request.remote_ip,
                    "wrong" if given else "no",
                )
                await self.answer(HTTPStatus.FORBIDDEN, {"ok": False, "error": "forbidden"})
                return
        server.request_started()
        try:
            await self._post_update(server)
        finally:
            server.request_finished()

    async def _post_update(self, server: WebhookServer) -> None:
        try:
            data = json.loads(self.request.body)
        except (ValueError, UnicodeDecodeError):
            log.warning("refused a webhook request from %s: not JSON", self.request.remote_ip)
            await self.answer(HTTPStatus.BAD_REQUEST, {"ok": False, "error": "not JSON"})
            return
        ok = await server.handle(data)
        if ok:
            await self.answer(HTTPStatus.OK, {"ok": True})
        else:
            await self.answer(
                HTTPStatus.INTERNAL_SERVER_ERROR, {"ok": False, "error": "not processed"}
            )


class HealthHandler(_Base):
    async def get(self) -> None:
        status, body = await self.server.health()
        await self.answer(status, body)


class _App(tornado.web.Application):
    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        """Every update already has its own log line (``studybot.updates``)."""


class WebhookServer:
    """The HTTP side of webhook mode; processing goes through the application's processor."""

    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        db: async_sessionmaker[AsyncSession],
        *,
        listen: str = "0.0.0.0",
        port: int = 8443,
        path: str = "telegram",
        secret_token: str | None = None,
    ) -> None:
        self.app = application
        self.db = db
        self.listen = listen
        self.port = port
        self.path = path.strip("/")
        self.secret_token = secret_token or None
        self.accepting = False
        self.requests = 0  # update requests whose answer is not written yet
        self._no_requests = asyncio.Event()
        self._no_requests.set()
        self._in_flight: dict[int, asyncio.Task[bool]] = {}
        self._http: HTTPServer | None = None
        self._ping_task: asyncio.Future[float] | None = None
        routes = [
            (rf"/{re.escape(self.path)}/?", UpdateHandler, {"server": self}),
            (r"/health/?", HealthHandler, {"server": self}),
        ]
        self._web = _App(routes)  # type: ignore[arg-type]

    def request_started(self) -> None:
        self.requests += 1
        self._no_requests.clear()

    def request_finished(self) -> None:
        self.requests -= 1
        if self.requests == 0:
            self._no_requests.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def start(self) -> None:
        """Listen (port 0 picks a free port, then ``self.port`` is the one bound)."""
        server = HTTPServer(self._web, max_body_size=MAX_BODY_BYTES, xheaders=True)
        try:
            server.listen(self.port, address=self.listen)
        except OSError as exc:
            raise ConfigError(
                f"telegram.webhook: cannot listen on {self.listen}:{self.port} ({exc.strerror})"
            ) from None
        sockets = list(getattr(server, "_sockets", {}).values())
        if self.port == 0 and sockets:
            self.port = sockets[0].getsockname()[1]
        self._http = server
        self.accepting = True

    async def stop(self, timeout: float = 25.0) -> None:
        """Stop accepting, finish the updates in hand (up to ``timeout``), close."""
        self.accepting = False
        if self._http is not None:
            self._http.stop()
        deadline = time.monotonic() + timeout
        if self._in_flight:
            log.info("finishing %d update(s) in hand", len(self._in_flight))
            await asyncio.wait(list(self._in_flight.values()), timeout=timeout)
        # ...and let their answers reach Telegram before the connections close.
        try:
            await asyncio.wait_for(
                self._no_requests.wait(), timeout=max(0.1, deadline - time.monotonic())
            )
        except TimeoutError:
            log.warning("%d webhook answer(s) not written before shutdown", self.requests)
        if self._http is not None:
            try:
                await asyncio.wait_for(self._http.close_all_connections(), timeout=5)
            except TimeoutError:
                log.warning("some webhook connections did not close in time")
            self._http = None

    async def handle(self, data: Any) -> bool:
        """Process one update; True when it is done (or can never be), False to be retried."""
        try:
            update = Update.de_json(data, self.app.bot)
        except Exception as exc:
            # Telegram would send it again and again; one that cannot be read never will be.
            uid = data.get("update_id") if isinstance(data, dict) else None
            log.warning("update %s cannot be read (%s: %s); skipped", uid, type(exc).__name__, exc)
            return True
        if update is None:
            return True
        running = self._in_flight.get(update.update_id)
        if running is None:
            # Telegram may resend an update while it is still being processed (a slow answer):
            # both deliveries wait for the one processing.
            running = asyncio.ensure_future(self._process(update))
            self._in_flight[update.update_id] = running
            running.add_done_callback(lambda _: self._in_flight.pop(update.update_id, None))
        return await asyncio.shield(running)

    async def _process(self, update: Update) -> bool:
        bot = self.app.bot
        if isinstance(bot, ExtBot):
            bot.insert_callback_data(update)
        try:
            await self.app.update_processor.process_update(update, self.app.process_update(update))
        except Exception:
            log.exception("update %s failed outside its handlers", update.update_id)
            return False
        return True

    async def _ping(self) -> float:
        started = time.perf_counter()
        async with self.db() as session:
            await session.execute(text("SELECT 1"))
        return (time.perf_counter() - started) * 1000

    async def health(self) -> tuple[int, dict[str, Any]]:
        if not self.accepting:
            return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "stopping", "database": "unknown"}
        # The check runs as a task of its own: a database stuck behind a lock cannot be
        # interrupted (the driver waits in a thread), but the probe still answers in time,
        # and probes arriving meanwhile share the one check instead of piling up.
        if self._ping_task is None or self._ping_task.done():
            self._ping_task = asyncio.ensure_future(self._ping())
        task = self._ping_task
        done, _ = await asyncio.wait({task}, timeout=HEALTH_TIMEOUT)
        error = None if done else "timeout"
        if done and task.exception() is not None:
            error = type(task.exception()).__name__
        if error is not None:
            log.warning("health check: the database does not answer (%s)", error)
            return HTTPStatus.SERVICE_UNAVAILABLE, {
                "status": "unavailable",
                "database": f"error: {error}",
            }
        return HTTPStatus.OK, {
            "status": "ok",
            "database": "ok",
            "database_ms": round(task.result(), 1),
            "updates_in_hand": self.in_flight,
        }

    async def set_webhook(self, url: str) -> None:
        """Tell Telegram where to deliver; refused settings are a configuration error."""
        try:
            await self.app.bot.set_webhook(
                url=url,
                allowed_updates=ALLOWED_UPDATES,
                secret_token=self.secret_token,
                drop_pending_updates=False,
            )
        except (BadRequest, Forbidden) as exc:
            raise ConfigError(
                f"telegram.webhook: the Bot API refused the webhook ({exc})"
            ) from None


async def serve_webhook(
    application: Application,  # type: ignore[type-arg]
    db: async_sessionmaker[AsyncSession],
    webhook: WebhookConfig,
    stop: asyncio.Event,
) -> None:
    """Listen, set the webhook, serve until ``stop`` is set, then shut down gracefully."""
    if webhook.secret_token:
        add_secret(webhook.secret_token)
    server = WebhookServer(
        application,
        db,
        listen=webhook.listen,
        port=webhook.port,
        path=webhook_path(webhook),
        secret_token=webhook.secret_token,
    )
    await server.start()
    try:
        assert webhook.url is not None
        await server.set_webhook(webhook.url)
        log.info(
            "serving webhook on %s:%s/%s for %s",
            server.listen,
            server.port,
            server.path,
            webhook.url,
        )
        await stop.wait()
        log.info("stopping: no new updates; finishing those in hand")
    finally:
        await server.stop()
