"""A local Bot API server that behaves like api.telegram.org for one bot.

The bot under test talks to it over real HTTP (``base_url`` / ``base_file_url``), so what is
tested is the bot's real request and response handling, not a mock of the library. The
server runs an aiohttp application on its own event loop in a background thread; every
public method is synchronous and thread-safe, so plain synchronous pytest functions can
inject user activity and inspect what the bot sent.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import hashlib
import itertools
import json
import math
import mimetypes
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from .errors import ApiError, error_body, gateway_page
from .markup import EntityParseError, command_entity, format_text
from .models import BOT_ID, BOT_USERNAME, Call, FakeChat, FakeUser, bot_user_dict
from .params import decode_params

__all__ = ["FakeBotAPI"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_BUTTONS = 100
MAX_UPLOAD = 50 * 1024 * 1024
MAX_DOWNLOAD = 20 * 1024 * 1024
POLL_QUESTION_MAX = 300
POLL_OPTION_MAX = 100
POLL_OPTIONS_MAX = 12
POLL_EXPLANATION_MAX = 200
POLL_EXPLANATION_LINE_FEEDS = 2
POLL_PERIOD_MIN = 5
POLL_PERIOD_MAX = 2628000

ALL_UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
# What Telegram delivers when allowed_updates was never set or set to [].
DEFAULT_UPDATE_TYPES = frozenset(ALL_UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}

# Methods that put a new message into a chat; these are what Telegram's flood limits count.
FLOOD_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "sendAudio",
        "sendVideo",
        "sendVoice",
        "sendAnimation",
        "sendSticker",
        "sendVideoNote",
        "sendPoll",
        "sendMediaGroup",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendDice",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
    }
)

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_MEDIA_KINDS = {
    # kind: (file_id prefix, directory, default extension, default mime)
    "document": ("BQACAgIAAxkBAAI", "documents", "", "application/octet-stream"),
    "photo": ("AgACAgIAAxkBAAI", "photos", ".jpg", "image/jpeg"),
    "audio": ("CQACAgIAAxkBAAI", "music", ".mp3", "audio/mpeg"),
    "video": ("BAACAgIAAxkBAAI", "videos", ".mp4", "video/mp4"),
    "voice": ("AwACAgIAAxkBAAI", "voice", ".oga", "audio/ogg"),
    "animation": ("CgACAgIAAxkBAAI", "animations", ".mp4", "video/mp4"),
}

_EXTRA_MIME = {
    ".yaml": "application/x-yaml",
    ".yml": "application/x-yaml",
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".md": "text/markdown",
    ".png": "image/png",
    ".json": "application/json",
    ".txt": "text/plain",
}

_SIMPLE_TRUE_METHODS = (
    "setMyName",
    "setMyDescription",
    "setMyShortDescription",
    "setMyDefaultAdministratorRights",
    "setMessageReaction",
    "unpinChatMessage",
    "unpinAllChatMessages",
    "close",
    "logOut",
    "setChatTitle",
    "setChatDescription",
    "setChatPermissions",
    "banChatMember",
    "unbanChatMember",
    "restrictChatMember",
    "promoteChatMember",
)


def _norm_method(name: str) -> str:
    return name.replace("_", "").lower()


def _known_api_methods() -> dict[str, str]:
    """Every Bot API method name python-telegram-bot knows, by lower-case name."""
    names: dict[str, str] = {}
    try:
        import telegram

        for attr in dir(telegram.Bot):
            if re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)+", attr):
                names[attr.lower()] = attr
    except ImportError:  # pragma: no cover - telegram is a dependency of the project
        pass
    names["close"] = "close"
    return names


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, JPEG, GIF or WebP image; None when it is not one."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return 512, 512
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            seg_len = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD):
                h = int.from_bytes(data[i + 5 : i + 7], "big")
                w = int.from_bytes(data[i + 7 : i + 9], "big")
                return w, h
            i += 2 + seg_len
        return None
    return None


@dataclass(eq=False)
class _Pending:
    update: dict[str, Any]
    replay: bool = False
    inflight: bool = False


@dataclass
class _Fail:
    method: str  # normalised, or "*"
    status: int
    description: str | None
    retry_after: int | None
    migrate_to_chat_id: int | None
    remaining: int
    chat_id: Any


@dataclass
class _Delay:
    method: str
    seconds: float
    remaining: int
    before: bool


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    content: bytes
    filename: str | None
    mime_type: str | None
    file_path: str
    kind: str
    width: int | None = None
    height: int | None = None


@dataclass
class _Poll:
    id: str
    chat_id: int
    message_id: int
    question: str
    question_entities: list[dict[str, Any]]
    options: list[dict[str, Any]]
    type: str
    is_anonymous: bool
    allows_multiple_answers: bool
    allows_revoting: bool
    correct_option_ids: list[int]
    explanation: str | None
    explanation_entities: list[dict[str, Any]]
    open_period: int | None
    close_date: int | None
    is_closed: bool = False
    votes: dict[int, list[int]] = field(default_factory=dict)


class _Answer:
    """A successful result with the optional ``description`` Telegram adds to some answers."""

    def __init__(self, result: Any, description: str | None = None) -> None:
        self.result = result
        self.description = description


class FakeBotAPI:
    """A stand-in for api.telegram.org serving one bot token on 127.0.0.1.

    Bot side (over HTTP): getMe, getUpdates (long polling, offsets, sticky allowed_updates,
    409 for a second poller or while a webhook is set), set/delete/getWebhookInfo with
    delivery and retries, messages and their edits, callback answers, files and downloads,
    polls and quizzes, commands, chats and members. Requests are validated as Telegram
    validates them and refused with Telegram's status codes and descriptions.

    Test side (synchronous, thread-safe): users, groups and blocking; injected updates
    (``send_text``, ``send_document``, ``press``, ``answer_poll``, ...); failures, delays
    and flood limits; and inspection of every call (``calls``, ``wait_for``, ``messages``).
    State is kept in memory; a new instance starts empty.
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        strict_chats: bool = True,
        enforce_limits: bool = False,
        overall_per_second: int = 30,
        group_per_minute: int = 20,
        privacy_mode: bool = True,
        webhook_concurrency: int = 1,
        webhook_attempts: int = 4,
        webhook_backoff: Iterable[float] = (0.1, 0.3, 0.6),
        first_update_id: int = 1,
        seed: int | None = None,
    ) -> None:
        self.token = token
        self.strict_chats = strict_chats
        self.enforce_limits = enforce_limits
        self.overall_per_second = overall_per_second
        self.group_per_minute = group_per_minute
        self.privacy_mode = privacy_mode
        self.webhook_concurrency = max(1, webhook_concurrency)
        self.webhook_attempts = max(1, webhook_attempts)
        self.webhook_backoff = tuple(webhook_backoff) or (0.1,)
        self.clock: Callable[[], float] = time.time

        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)

        self._calls: list[Call] = []
        self._users: dict[int, FakeUser] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._bot_status: dict[int, str] = {}
        self._members: dict[int, dict[int, str]] = {}
        self._blocked: set[int] = set()
        self._messages: dict[int, dict[int, dict[str, Any]]] = {}
        self._deleted: set[tuple[int, int]] = set()
        self._next_message_id: dict[int, int] = {}
        self._pinned: dict[int, int] = {}
        self._files: dict[str, _File] = {}
        self._files_by_path: dict[str, _File] = {}
        self._file_counter = 0
        self._polls: dict[str, _Poll] = {}
        self._callback_queries: dict[str, dict[str, Any]] = {}
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._menu_buttons: dict[Any, dict[str, Any]] = {}

        self._next_update_id = first_update_id
        self._update_log: dict[int, dict[str, Any]] = {}
        self._pending: list[_Pending] = []
        self._allowed_updates: list[str] | None = None
        self._webhook: dict[str, Any] | None = None
        self._webhook_targets: list[str] | None = None
        self._rr = 0
        self._poll_generation = 0

        self._fails: list[_Fail] = []
        self._delays: list[_Delay] = []
        self._overall_sends: collections.deque[float] = collections.deque()
        self._group_sends: dict[int, collections.deque[float]] = {}

        self.flood_429_count = 0
        self.conflict_count = 0
        self.dropped_updates: list[dict[str, Any]] = []
        self.unsupported_calls: list[Call] = []
        self.webhook_deliveries: list[tuple[int, str, int | str]] = []
        self.webhook_failures: list[tuple[int, str]] = []
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self._webhook_last_error: tuple[int, str] | None = None

        self._known = _known_api_methods()
        self._handlers: dict[str, Callable[[dict[str, Any], dict[str, tuple[str, bytes]]], Any]]
        self._handlers = {}
        for attr in dir(self):
            if attr.startswith("_api_"):
                name = attr[len("_api_") :]
                self._handlers[name] = getattr(self, attr)
                self._known[name.lower()] = name
        for name in _SIMPLE_TRUE_METHODS:
            self._handlers.setdefault(name, self._true)
            self._known[name.lower()] = name

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._wake_event: asyncio.Event | None = None
        self._stopping = False
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bot_user(self) -> dict[str, Any]:
        return bot_user_dict(full=True)

    def start(self) -> FakeBotAPI:
        """Bind a free port on 127.0.0.1 and serve in a background thread."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._stopping = False
        self._thread = threading.Thread(target=run, name="fake-bot-api", daemon=True)
        self._thread.start()
        ready.wait(15)
        if failure:
            self._thread = None
            raise RuntimeError("fake Bot API server failed to start") from failure[0]
        return self

    def stop(self) -> None:
        """Stop serving; pending long polls return, webhook deliveries are abandoned."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            fut = asyncio.run_coroutine_threadsafe(self._astop(), loop)
            fut.result(15)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(15)
            self._thread = None
            self._loop = None

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _astart(self) -> None:
        self._wake_event = asyncio.Event()
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_other)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        self._workers = [
            asyncio.create_task(self._webhook_worker()) for _ in range(self.webhook_concurrency)
        ]

    async def _astop(self) -> None:
        self._stopping = True
        self._wake()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _wake(self) -> None:
        ev = self._wake_event
        self._wake_event = asyncio.Event()
        if ev is not None:
            ev.set()

    def _notify(self) -> None:
        """Wake long polls and webhook workers after the update queue changed."""
        loop = self._loop
        if loop is None:
            return
        if self._thread is not None and threading.current_thread() is self._thread:
            self._wake()
            return
        try:
            loop.call_soon_threadsafe(self._wake)
        except RuntimeError:
            pass

    # ------------------------------------------------------------ HTTP handlers

    @staticmethod
    def _json_response(status: int, body: dict[str, Any]) -> web.Response:
        return web.Response(
            status=status,
            text=json.dumps(body, ensure_ascii=False),
            content_type="application/json",
        )

    async def _handle_other(self, request: web.Request) -> web.Response:
        return self._json_response(404, error_body(404, "Not Found"))

    async def _read_request(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, tuple[str, bytes]] = {}
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise ApiError(400, "Bad Request: can't parse JSON encoded request") from None
                if not isinstance(body, dict):
                    raise ApiError(400, "Bad Request: request must be a JSON object")
                raw.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                data = await request.post()
                for key, value in data.items():
                    if isinstance(value, web.FileField):
                        files[key] = (value.filename or key, value.file.read())
                    elif isinstance(value, bytes | bytearray):
                        raw[key] = bytes(value).decode("utf-8", "replace")
                    else:
                        raw[key] = value
            else:
                await request.read()
        return raw, files

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._json_response(401, error_body(401, "Unauthorized"))
        raw_method = request.match_info["method"]
        canonical = self._known.get(raw_method.lower())
        parse_error: ApiError | None = None
        try:
            raw, files = await self._read_request(request)
            params = decode_params(raw)
        except ApiError as exc:
            parse_error = exc
            params, files = {}, {}
        with self._lock:
            call = Call(
                index=len(self._calls),
                method=canonical or raw_method,
                params=params,
                files=files,
                time=time.monotonic(),
            )
            self._calls.append(call)
            self._cond.notify_all()
            delay = self._pop_delay(call.method)
            done = False
            if canonical is None:
                status, body = 404, error_body(404, "Not Found")
                done = True
            elif parse_error is not None:
                status, body = parse_error.status, parse_error.body()
                done = True
            elif canonical != "getUpdates" and not (delay and delay.before):
                status, body = self._dispatch_locked(call)
                done = True
            if done:
                self._finish(call, status, body)
        if not done:
            if delay is not None and delay.before:
                await asyncio.sleep(delay.seconds)
            if call.method == "getUpdates":
                status, body = await self._get_updates(call, request)
            else:
                with self._lock:
                    status, body = self._dispatch_locked(call)
            with self._lock:
                self._finish(call, status, body)
        if delay is not None and not delay.before:
            await asyncio.sleep(delay.seconds)
        if status in (502, 503, 504) and body.get("_html"):
            reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
            return web.Response(
                status=status, text=gateway_page(status, reason[status]), content_type="text/html"
            )
        return self._json_response(status, body)

    def _finish(self, call: Call, status: int, body: dict[str, Any]) -> None:
        call.status = status
        call.response = {k: v for k, v in body.items() if k != "_html"}
        self._cond.notify_all()

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._json_response(401, error_body(401, "Unauthorized"))
        with self._lock:
            record = self._files_by_path.get(request.match_info["path"])
        if record is None:
            return self._json_response(404, error_body(404, "Not Found"))
        return web.Response(
            body=record.content, content_type=record.mime_type or "application/octet-stream"
        )

    # ------------------------------------------------------------- dispatching

    def _pop_delay(self, method: str) -> _Delay | None:
        key = _norm_method(method)
        for d in self._delays:
            if d.remaining > 0 and d.method in (key, "*"):
                d.remaining -= 1
                return d
        return None

    def _pop_fail(self, call: Call) -> _Fail | None:
        key = _norm_method(call.method)
        for f in self._fails:
            if f.remaining <= 0 or f.method not in (key, "*"):
                continue
            if f.chat_id is not None and str(call.params.get("chat_id")) != str(f.chat_id):
                continue
            f.remaining -= 1
            return f
        return None

    @staticmethod
    def _fail_body(f: _Fail) -> tuple[int, dict[str, Any]]:
        status = f.status
        params: dict[str, Any] = {}
        if f.retry_after is not None or status == 429:
            params["retry_after"] = int(f.retry_after if f.retry_after is not None else 5)
        if f.migrate_to_chat_id is not None:
            params["migrate_to_chat_id"] = f.migrate_to_chat_id
        desc = f.description
        if desc is None:
            if status == 429:
                desc = f"Too Many Requests: retry after {params['retry_after']}"
            elif f.migrate_to_chat_id is not None:
                desc = "Bad Request: group chat was upgraded to a supergroup chat"
            elif status in (502, 503, 504):
                return status, {"_html": True, **error_body(status, "Bad Gateway")}
            else:
                desc = {
                    400: "Bad Request",
                    401: "Unauthorized",
                    403: "Forbidden: bot was blocked by the user",
                    404: "Not Found",
                    409: "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                    500: "Internal Server Error",
                }.get(status, "Internal Server Error")
        return status, error_body(status, desc, params or None)

    def _check_flood(self, call: Call) -> tuple[int, dict[str, Any]] | None:
        now = time.monotonic()
        overall = self._overall_sends
        while overall and overall[0] <= now - 1.0:
            overall.popleft()
        chat_id = call.params.get("chat_id")
        group_q: collections.deque[float] | None = None
        if isinstance(chat_id, int) and chat_id < 0:
            group_q = self._group_sends.setdefault(chat_id, collections.deque())
            while group_q and group_q[0] <= now - 60.0:
                group_q.popleft()
        retry: float | None = None
        if self.overall_per_second and len(overall) >= self.overall_per_second:
            retry = overall[0] + 1.0 - now
        if group_q is not None and self.group_per_minute and len(group_q) >= self.group_per_minute:
            retry = max(retry or 0.0, group_q[0] + 60.0 - now)
        if retry is not None:
            self.flood_429_count += 1
            seconds = max(1, math.ceil(retry))
            return 429, error_body(
                429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}
            )
        overall.append(now)
        if group_q is not None:
            group_q.append(now)
        return None

    def _dispatch_locked(self, call: Call) -> tuple[int, dict[str, Any]]:
        fail = self._pop_fail(call)
        if fail is not None:
            return self._fail_body(fail)
        if self.enforce_limits and call.method in FLOOD_METHODS:
            flood = self._check_flood(call)
            if flood is not None:
                return flood
        handler = self._handlers.get(call.method)
        if handler is None:
            self.unsupported_calls.append(call)
            return 400, error_body(
                400, f"Bad Request: method {call.method} is not supported by the fake server"
            )
        try:
            result = handler(call.params, call.files)
        except ApiError as exc:
            return exc.status, exc.body()
        if isinstance(result, _Answer):
            body: dict[str, Any] = {"ok": True, "result": result.result}
            if result.description:
                body["description"] = result.description
            return 200, body
        return 200, {"ok": True, "result": result}

    # ---------------------------------------------------------------- helpers

    def _now(self) -> int:
        return int(self.clock())

    def _random_id(self) -> str:
        return str(self._rng.randrange(10**18, 9 * 10**18))

    @staticmethod
    def _chat_instance(chat_id: int) -> str:
        digest = hashlib.sha256(f"chat-instance:{chat_id}".encode()).digest()
        return str(int.from_bytes(digest[:8], "big", signed=True))

    def _user_of(self, user: FakeUser | int) -> FakeUser:
        with self._lock:
            if isinstance(user, FakeUser):
                if user.id not in self._users:
                    self._users[user.id] = user
                    self._chats.setdefault(user.id, user.private_chat())
                return self._users[user.id]
            if user in self._users:
                return self._users[user]
        raise AssertionError(f"unknown user {user!r}: create it with fake.user(...)")

    def _chat_dict(self, chat: FakeChat | FakeUser | int | dict[str, Any]) -> dict[str, Any]:
        if isinstance(chat, dict):
            chat_id = chat["id"] if "id" in chat else chat["chat"]["id"]
        elif isinstance(chat, FakeChat | FakeUser):
            chat_id = chat.id
        else:
            chat_id = chat
        with self._lock:
            if isinstance(chat, FakeChat) and chat_id not in self._chats:
                self._register_group(chat)
            found = self._chats.get(chat_id)
        if found is None:
            raise AssertionError(f"unknown chat {chat_id!r}: create it with fake.group(...)")
        return found

    def _register_group(self, chat: FakeChat, bot_status: str = "member") -> None:
        self._chats[chat.id] = chat.to_dict()
        self._bot_status.setdefault(chat.id, bot_status)
        self._members.setdefault(chat.id, {})

    def _resolve_chat(self, chat_id: Any) -> dict[str, Any]:
        """The chat a method addresses, as Telegram finds it (or 'chat not found')."""
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, str):
            name = chat_id.lstrip("@").lower()
            for chat in self._chats.values():
                if (chat.get("username") or "").lower() == name:
                    return chat
            raise ApiError(400, "Bad Request: chat not found")
        chat = self._chats.get(chat_id)
        if chat is None:
            if self.strict_chats:
                raise ApiError(400, "Bad Request: chat not found")
            if chat_id > 0:
                user = FakeUser(chat_id, first_name=f"User{chat_id}")
                self._users[chat_id] = user
                chat = self._chats[chat_id] = user.private_chat()
            else:
                self._register_group(FakeChat(chat_id, title=f"Chat {chat_id}"))
                chat = self._chats[chat_id]
        return chat

    def _check_can_send(self, chat: dict[str, Any]) -> None:
        chat_id, kind = chat["id"], chat["type"]
        if kind == "private":
            if chat_id in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            return
        status = self._bot_status.get(chat_id, "member")
        label = {"supergroup": "supergroup chat", "group": "group chat"}.get(kind, "channel chat")
        if status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {label}")
        if status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {label}")

    def _send_target(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(p.get("chat_id"))
        self._check_can_send(chat)
        return chat

    def _format(
        self,
        text: str,
        parse_mode: Any,
        entities: Any,
    ) -> tuple[str, list[dict[str, Any]]]:
        if entities is not None and not isinstance(entities, list):
            raise ApiError(400, "Bad Request: can't parse entities JSON object")
        try:
            return format_text(text, parse_mode if isinstance(parse_mode, str) else None, entities)
        except EntityParseError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None

    def _check_markup(self, markup: Any) -> dict[str, Any] | None:
        """Validate reply_markup; return it when it is an inline keyboard to keep."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(
                    400,
                    'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup '
                    "must be an Array of Arrays",
                )
            count = 0
            for row in rows:
                for button in row:
                    count += 1
                    if not isinstance(button, dict):
                        raise ApiError(400, "Bad Request: can't parse inline keyboard button")
                    text = button.get("text")
                    if not isinstance(text, str) or not text.strip():
                        raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
                    actions = [
                        k for k in button if k not in ("text", "style", "icon_custom_emoji_id")
                    ]
                    if not actions:
                        raise ApiError(
                            400, "Bad Request: text buttons are unallowed in the inline keyboard"
                        )
                    if "callback_data" in button:
                        data = button["callback_data"]
                        if not isinstance(data, str) or not (
                            1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA
                        ):
                            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                    if "url" in button and not button["url"]:
                        raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
            if count > MAX_BUTTONS:
                raise ApiError(400, "Bad Request: reply markup is too long")
            return copy.deepcopy(markup) if count else None
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(
                    400,
                    'Bad Request: field "keyboard" of the ReplyKeyboardMarkup must be an '
                    "Array of Arrays",
                )
            return None
        if markup.get("remove_keyboard") or markup.get("force_reply"):
            return None
        raise ApiError(400, 'Bad Request: can\'t find field "inline_keyboard"')

    def _store(self, chat_id: int, message: dict[str, Any]) -> dict[str, Any]:
        self._messages.setdefault(chat_id, {})[message["message_id"]] = message
        return copy.deepcopy(message)

    def _new_message_id(self, chat_id: int) -> int:
        mid = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = mid + 1
        return mid

    def _bot_message(self, chat: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        msg: dict[str, Any] = {"message_id": self._new_message_id(chat["id"])}
        if chat["type"] == "channel":
            msg["sender_chat"] = dict(chat)
        else:
            msg["from"] = bot_user_dict()
        msg["chat"] = dict(chat)
        msg["date"] = self._now()
        reply = self._reply_target(chat, p)
        if reply is not None:
            msg["reply_to_message"] = reply
        return msg

    def _reply_target(self, chat: dict[str, Any], p: dict[str, Any]) -> dict[str, Any] | None:
        params = p.get("reply_parameters")
        mid: Any = None
        allow = bool(p.get("allow_sending_without_reply"))
        target_chat = chat["id"]
        if isinstance(params, dict):
            mid = params.get("message_id")
            allow = bool(params.get("allow_sending_without_reply", allow))
            if params.get("chat_id") is not None:
                target_chat = self._resolve_chat(params["chat_id"])["id"]
        elif p.get("reply_to_message_id") is not None:
            mid = p["reply_to_message_id"]
        if mid is None:
            return None
        stored = self._messages.get(target_chat, {}).get(int(mid))
        if stored is None:
            if allow:
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        reply = copy.deepcopy(stored)
        reply.pop("reply_to_message", None)
        return reply

    def _find_message(self, chat_id: int, message_id: Any) -> dict[str, Any] | None:
        if not isinstance(message_id, int):
            return None
        return self._messages.get(chat_id, {}).get(message_id)

    def _register_file(
        self, kind: str, content: bytes, filename: str | None, mime_type: str | None
    ) -> _File:
        prefix, directory, default_ext, default_mime = _MEDIA_KINDS[kind]
        self._file_counter += 1
        ext = ""
        if filename and "." in filename:
            ext = "." + filename.rsplit(".", 1)[1].lower()
        ext = ext or default_ext
        if kind == "photo":
            # Telegram re-encodes photos; what the bot downloads is always a JPEG path.
            ext, mime_type = ".jpg", "image/jpeg"
        if mime_type is None:
            mime_type = _EXTRA_MIME.get(ext) or mimetypes.guess_type(f"x{ext}")[0] or default_mime
        token = base64.urlsafe_b64encode(self._rng.randbytes(45)).decode().rstrip("=")
        unique = base64.urlsafe_b64encode(self._rng.randbytes(9)).decode().rstrip("=")
        record = _File(
            file_id=prefix + token,
            file_unique_id="AgAD" + unique,
            content=content,
            filename=filename,
            mime_type=mime_type,
            file_path=f"{directory}/file_{self._file_counter}{ext}",
            kind=kind,
        )
        self._files[record.file_id] = record
        self._files_by_path[record.file_path] = record
        return record

    def _true(self, p: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> bool:
        if "chat_id" in p:
            self._resolve_chat(p["chat_id"])
        return True

    # ------------------------------------------------------------- delivery

    def _update_type(self, update: dict[str, Any]) -> str:
        for key in update:
            if key != "update_id":
                return key
        return ""

    def _is_allowed(self, update: dict[str, Any]) -> bool:
        allowed = self._allowed_updates
        types = set(allowed) if allowed else DEFAULT_UPDATE_TYPES
        return self._update_type(update) in types

    def _set_allowed(self, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            raise ApiError(400, "Bad Request: can't parse allowed updates JSON object")
        self._allowed_updates = [str(v) for v in value]

    def _push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            uid = self._next_update_id
            self._next_update_id += 1
            update = {"update_id": uid, kind: payload}
            self._update_log[uid] = update
            self._pending.append(_Pending(update))
            result = copy.deepcopy(update)
        self._notify()
        return result

    def _drop_disallowed(self) -> None:
        keep = []
        for entry in self._pending:
            if entry.inflight or self._is_allowed(entry.update):
                keep.append(entry)
            else:
                self.dropped_updates.append(entry.update)
        self._pending = keep

    async def _get_updates(self, call: Call, request: web.Request) -> tuple[int, dict[str, Any]]:
        p = call.params
        loop = asyncio.get_running_loop()
        with self._lock:
            fail = self._pop_fail(call)
            if fail is not None:
                return self._fail_body(fail)
            if self._webhook is not None:
                self.conflict_count += 1
                return 409, error_body(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            try:
                self._set_allowed(p.get("allowed_updates"))
            except ApiError as exc:
                return exc.status, exc.body()
            offset = p.get("offset")
            limit = p.get("limit") or 100
            limit = max(1, min(100, int(limit)))
            timeout = max(0, int(p.get("timeout") or 0))
            self._poll_generation += 1
            generation = self._poll_generation
            if offset is not None:
                offset = int(offset)
                if offset < 0:
                    confirmed = [e for e in self._pending if not e.replay][:offset]
                    self._pending = [e for e in self._pending if e not in confirmed]
                else:
                    self._pending = [
                        e
                        for e in self._pending
                        if e.replay or e.inflight or e.update["update_id"] >= offset
                    ]
        self._wake()
        deadline = loop.time() + timeout
        while True:
            with self._lock:
                if self._stopping:
                    return 200, {"ok": True, "result": []}
                if self._webhook is not None:
                    self.conflict_count += 1
                    return 409, error_body(409, "Conflict: terminated by setWebhook request")
                if generation != self._poll_generation:
                    transport = request.transport
                    if transport is None or transport.is_closing():
                        # The poller is gone (killed process); nobody sees this answer.
                        return 200, {"ok": True, "result": []}
                    self.conflict_count += 1
                    return 409, error_body(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only "
                        "one bot instance is running",
                    )
                self._drop_disallowed()
                batch = sorted(self._pending, key=lambda e: (not e.replay, e.update["update_id"]))[
                    :limit
                ]
                if batch or loop.time() >= deadline:
                    for entry in batch:
                        entry.replay = False
                    return 200, {"ok": True, "result": [copy.deepcopy(e.update) for e in batch]}
                event = self._wake_event
            assert event is not None
            try:
                await asyncio.wait_for(event.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                pass

    async def _webhook_worker(self) -> None:
        while True:
            with self._lock:
                entry: _Pending | None = None
                if self._webhook is not None and not self._stopping:
                    self._drop_disallowed()
                    for candidate in self._pending:
                        if not candidate.inflight:
                            entry = candidate
                            entry.inflight = True
                            break
                event = self._wake_event
            if entry is None:
                assert event is not None
                await event.wait()
                continue
            outcome = await self._deliver(entry)
            with self._lock:
                entry.inflight = False
                if outcome != "requeue":
                    self._pending = [e for e in self._pending if e is not entry]
                self._cond.notify_all()

    async def _deliver(self, entry: _Pending) -> str:
        update = entry.update
        uid = update["update_id"]
        body = json.dumps(update, ensure_ascii=False).encode()
        for attempt in range(self.webhook_attempts):
            with self._lock:
                hook = self._webhook
                if hook is None or self._stopping:
                    return "requeue"
                targets = self._webhook_targets or [hook["url"]]
                url = targets[self._rr % len(targets)]
                self._rr += 1
                headers = {"Content-Type": "application/json"}
                if hook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
            assert self._session is not None
            outcome: int | str
            try:
                async with self._session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    outcome = resp.status
                    ok = 200 <= resp.status < 300
                    message = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                outcome = type(exc).__name__
                ok = False
                message = (
                    "Connection refused"
                    if isinstance(exc, aiohttp.ClientConnectorError)
                    else f"Webhook request failed: {type(exc).__name__}"
                )
            with self._lock:
                self.webhook_deliveries.append((uid, url, outcome))
                if ok:
                    self._cond.notify_all()
                    return "delivered"
                self._webhook_last_error = (self._now(), message)
                self._cond.notify_all()
            if attempt + 1 < self.webhook_attempts:
                backoff = self.webhook_backoff[min(attempt, len(self.webhook_backoff) - 1)]
                await asyncio.sleep(backoff)
        with self._lock:
            self.webhook_failures.append((uid, message))
        return "dropped"

    # --------------------------------------------------------------- bot API

    def _api_getMe(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        return bot_user_dict(full=True)

    def _api_getUpdates(self, p: dict[str, Any], files: Any) -> Any:  # pragma: no cover
        raise ApiError(500, "Internal Server Error")  # handled asynchronously

    def _api_setWebhook(self, p: dict[str, Any], files: Any) -> _Answer:
        url = p.get("url")
        if url is None:
            raise ApiError(400, 'Bad Request: bad webhook: parameter "url" is required')
        if url == "":
            return self._remove_webhook(p, set_call=True)
        if not re.match(r"https?://", str(url)):
            raise ApiError(
                400,
                "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
            )
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        max_connections = int(p.get("max_connections") or 40)
        if not 1 <= max_connections <= 100:
            raise ApiError(400, "Bad Request: bad webhook: max_connections must be 1-100")
        self._set_allowed(p.get("allowed_updates"))
        same = self._webhook is not None and self._webhook.get("url") == url
        if p.get("drop_pending_updates"):
            self._pending = [e for e in self._pending if e.inflight]
        self._webhook = {
            "url": str(url),
            "secret_token": secret,
            "max_connections": max_connections,
            "ip_address": p.get("ip_address"),
            "has_custom_certificate": "certificate" in files,
        }
        self._notify()
        return _Answer(True, "Webhook is already set" if same else "Webhook was set")

    def _remove_webhook(self, p: dict[str, Any], *, set_call: bool = False) -> _Answer:
        existed = self._webhook is not None
        self._webhook = None
        if p.get("drop_pending_updates"):
            self._pending = [e for e in self._pending if e.inflight]
        self._notify()
        return _Answer(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    def _api_deleteWebhook(self, p: dict[str, Any], files: Any) -> _Answer:
        return self._remove_webhook(p)

    def _api_getWebhookInfo(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self._webhook["url"] if self._webhook else "",
            "has_custom_certificate": bool(
                self._webhook and self._webhook.get("has_custom_certificate")
            ),
            "pending_update_count": len(self._pending),
        }
        if self._webhook:
            info["max_connections"] = self._webhook["max_connections"]
            if self._webhook.get("ip_address"):
                info["ip_address"] = self._webhook["ip_address"]
            if self._allowed_updates:
                info["allowed_updates"] = list(self._allowed_updates)
            if self._webhook_last_error:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    # ----- messages

    def _api_sendMessage(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        chat = self._send_target(p)
        text = p.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        plain, entities = self._format(text, p.get("parse_mode"), p.get("entities"))
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(plain) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = self._check_markup(p.get("reply_markup"))
        msg = self._bot_message(chat, p)
        msg["text"] = plain
        if entities:
            msg["entities"] = entities
        if isinstance(p.get("link_preview_options"), dict):
            msg["link_preview_options"] = p["link_preview_options"]
        if markup:
            msg["reply_markup"] = markup
        return self._store(chat["id"], msg)

    def _editable(self, p: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if p.get("inline_message_id") is not None:
            raise ApiError(400, "Bad Request: message to edit not found")
        chat = self._resolve_chat(p.get("chat_id"))
        self._check_can_send(chat)
        msg = self._find_message(chat["id"], p.get("message_id"))
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if msg.get("from", {}).get("id") != BOT_ID and "sender_chat" not in msg:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat, msg

    @staticmethod
    def _not_modified() -> ApiError:
        return ApiError(
            400,
            "Bad Request: message is not modified: specified new message content and reply "
            "markup are exactly the same as a current content and reply markup of the message",
        )

    def _api_editMessageText(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        _, msg = self._editable(p)
        if "text" not in msg:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = p.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        plain, entities = self._format(text, p.get("parse_mode"), p.get("entities"))
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(plain) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = self._check_markup(p.get("reply_markup"))
        if (
            plain == msg.get("text")
            and entities == msg.get("entities", [])
            and markup == msg.get("reply_markup")
        ):
            raise self._not_modified()
        msg["text"] = plain
        if entities:
            msg["entities"] = entities
        else:
            msg.pop("entities", None)
        self._set_markup(msg, markup)
        msg["edit_date"] = self._now()
        return copy.deepcopy(msg)

    @staticmethod
    def _set_markup(msg: dict[str, Any], markup: dict[str, Any] | None) -> None:
        if markup:
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)

    def _api_editMessageCaption(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        _, msg = self._editable(p)
        if "text" in msg or "poll" in msg:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption = p.get("caption") or ""
        plain, entities = self._format(caption, p.get("parse_mode"), p.get("caption_entities"))
        if len(plain) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        markup = self._check_markup(p.get("reply_markup"))
        if (
            plain == msg.get("caption", "")
            and entities == msg.get("caption_entities", [])
            and markup == msg.get("reply_markup")
        ):
            raise self._not_modified()
        if plain:
            msg["caption"] = plain
        else:
            msg.pop("caption", None)
        if entities:
            msg["caption_entities"] = entities
        else:
            msg.pop("caption_entities", None)
        self._set_markup(msg, markup)
        msg["edit_date"] = self._now()
        return copy.deepcopy(msg)

    def _api_editMessageReplyMarkup(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        _, msg = self._editable(p)
        markup = self._check_markup(p.get("reply_markup"))
        if markup == msg.get("reply_markup"):
            raise self._not_modified()
        self._set_markup(msg, markup)
        msg["edit_date"] = self._now()
        return copy.deepcopy(msg)

    def _api_deleteMessage(self, p: dict[str, Any], files: Any) -> bool:
        chat = self._resolve_chat(p.get("chat_id"))
        msg = self._find_message(chat["id"], p.get("message_id"))
        if msg is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        del self._messages[chat["id"]][msg["message_id"]]
        self._deleted.add((chat["id"], msg["message_id"]))
        return True

    def _api_deleteMessages(self, p: dict[str, Any], files: Any) -> bool:
        chat = self._resolve_chat(p.get("chat_id"))
        ids = p.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise ApiError(400, "Bad Request: message identifiers are not specified")
        for mid in ids:
            if self._find_message(chat["id"], mid) is not None:
                del self._messages[chat["id"]][mid]
                self._deleted.add((chat["id"], mid))
        return True

    def _api_answerCallbackQuery(self, p: dict[str, Any], files: Any) -> bool:
        qid = str(p.get("callback_query_id", ""))
        query = self._callback_queries.get(qid)
        if query is None or query.get("answered"):
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        text = p.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query["answered"] = True
        self.callback_answers[qid] = dict(p)
        return True

    # ----- files

    def _input_file(
        self, kind: str, p: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> _File:
        if kind in files:
            filename, content = files[kind]
            return self._new_upload(kind, content, p.get("filename") or filename)
        ref = p.get(kind)
        if isinstance(ref, str) and ref.startswith("attach://"):
            name = ref[len("attach://") :]
            if name not in files:
                raise ApiError(400, f"Bad Request: file of type {kind} is not found in request")
            filename, content = files[name]
            return self._new_upload(kind, content, filename)
        if isinstance(ref, str) and ref in self._files:
            return self._files[ref]
        if isinstance(ref, str) and re.match(r"https?://", ref):
            name = ref.rstrip("/").rsplit("/", 1)[-1] or "file"
            return self._register_file(kind, b"", name, None)
        if ref is None:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _new_upload(self, kind: str, content: bytes, filename: str | None) -> _File:
        if not content:
            raise ApiError(400, "Bad Request: file must be non-empty")
        if len(content) > MAX_UPLOAD:
            raise ApiError(413, "Request Entity Too Large")
        size = None
        if kind == "photo":
            size = _image_size(content)
            if size is None:
                raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        record = self._register_file(kind, content, filename, None)
        if size:
            record.width, record.height = size
        return record

    @staticmethod
    def _file_fields(record: _File) -> dict[str, Any]:
        return {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": len(record.content),
        }

    def _media_object(self, kind: str, record: _File) -> Any:
        base = self._file_fields(record)
        if kind == "photo":
            w, h = record.width or 320, record.height or 320
            sizes = []
            if max(w, h) > 90:
                scale = 90 / max(w, h)
                thumb = dict(base, width=max(1, round(w * scale)), height=max(1, round(h * scale)))
                sizes.append(thumb)
            sizes.append(dict(base, width=w, height=h))
            return sizes
        obj = dict(base)
        if record.filename and kind in ("document", "audio", "video", "animation"):
            obj["file_name"] = record.filename
        if record.mime_type:
            obj["mime_type"] = record.mime_type
        if kind in ("audio", "voice"):
            obj["duration"] = 1
        if kind in ("video", "animation"):
            obj.update(width=320, height=240, duration=1)
        return obj

    def _send_media(self, kind: str, p: dict[str, Any], files: dict[str, tuple[str, bytes]]):
        chat = self._send_target(p)
        caption = p.get("caption")
        plain, entities = ("", [])
        if isinstance(caption, str) and caption:
            plain, entities = self._format(caption, p.get("parse_mode"), p.get("caption_entities"))
            if len(plain) > MAX_CAPTION:
                raise ApiError(400, "Bad Request: message caption is too long")
        markup = self._check_markup(p.get("reply_markup"))
        record = self._input_file(kind, p, files)
        msg = self._bot_message(chat, p)
        msg[kind] = self._media_object(kind, record)
        if plain:
            msg["caption"] = plain
        if entities:
            msg["caption_entities"] = entities
        if markup:
            msg["reply_markup"] = markup
        return self._store(chat["id"], msg)

    def _api_sendDocument(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        return self._send_media("document", p, files)

    def _api_sendPhoto(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        return self._send_media("photo", p, files)

    def _api_sendAudio(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        return self._send_media("audio", p, files)

    def _api_sendVideo(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        return self._send_media("video", p, files)

    def _api_sendVoice(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        return self._send_media("voice", p, files)

    def _api_sendAnimation(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        return self._send_media("animation", p, files)

    def _api_getFile(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        record = self._files.get(str(p.get("file_id", "")))
        if record is None:
            raise ApiError(400, "Bad Request: wrong file_id or the file is temporarily unavailable")
        if len(record.content) > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return dict(self._file_fields(record), file_path=record.file_path)

    # ----- polls

    def _poll_dict(self, poll: _Poll) -> dict[str, Any]:
        counts = [0] * len(poll.options)
        for ids in poll.votes.values():
            for i in ids:
                counts[i] += 1
        d: dict[str, Any] = {
            "id": poll.id,
            "question": poll.question,
            "options": [
                dict(
                    {
                        "text": o["text"],
                        "voter_count": counts[i],
                        "persistent_id": o["persistent_id"],
                    },
                    **({"text_entities": o["entities"]} if o["entities"] else {}),
                )
                for i, o in enumerate(poll.options)
            ],
            "total_voter_count": sum(1 for ids in poll.votes.values() if ids),
            "is_closed": poll.is_closed,
            "is_anonymous": poll.is_anonymous,
            "type": poll.type,
            "allows_multiple_answers": poll.allows_multiple_answers,
            "allows_revoting": poll.allows_revoting,
            "members_only": False,
        }
        if poll.question_entities:
            d["question_entities"] = poll.question_entities
        if poll.type == "quiz":
            d["correct_option_ids"] = list(poll.correct_option_ids)
            if poll.explanation:
                d["explanation"] = poll.explanation
                if poll.explanation_entities:
                    d["explanation_entities"] = poll.explanation_entities
        if not poll.is_closed:
            if poll.open_period is not None:
                d["open_period"] = poll.open_period
            if poll.close_date is not None:
                d["close_date"] = poll.close_date
        return d

    def _refresh_poll_message(self, poll: _Poll) -> None:
        msg = self._find_message(poll.chat_id, poll.message_id)
        if msg is not None:
            msg["poll"] = self._poll_dict(poll)

    def _api_sendPoll(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        chat = self._send_target(p)
        question = p.get("question")
        if not isinstance(question, str):
            raise ApiError(400, "Bad Request: text must be non-empty")
        q_text, q_entities = self._format(
            question, p.get("question_parse_mode"), p.get("question_entities")
        )
        if not q_text.strip():
            raise ApiError(400, "Bad Request: text must be non-empty")
        if len(q_text) > POLL_QUESTION_MAX:
            raise ApiError(
                400, f"Bad Request: poll question length must not exceed {POLL_QUESTION_MAX}"
            )
        raw_options = p.get("options")
        if raw_options is None or raw_options == []:
            raise ApiError(400, "Bad Request: poll must have at least one answer option")
        if not isinstance(raw_options, list):
            raise ApiError(400, "Bad Request: can't parse options JSON object")
        if len(raw_options) > POLL_OPTIONS_MAX:
            raise ApiError(
                400, f"Bad Request: poll can't have more than {POLL_OPTIONS_MAX} options"
            )
        options = []
        for i, raw in enumerate(raw_options):
            if isinstance(raw, str):
                raw = {"text": raw}
            if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
                raise ApiError(
                    400,
                    "Bad Request: can't parse InputPollOption: Expected InputPollOption to be "
                    "an Object",
                )
            o_text, o_entities = self._format(
                raw["text"], raw.get("text_parse_mode"), raw.get("text_entities")
            )
            if not o_text.strip():
                raise ApiError(400, "Bad Request: text must be non-empty")
            if len(o_text) > POLL_OPTION_MAX:
                raise ApiError(
                    400, f"Bad Request: poll options length must not exceed {POLL_OPTION_MAX}"
                )
            # As for the question, only custom emoji survive in poll options.
            kept = [e for e in o_entities if e.get("type") == "custom_emoji"]
            options.append({"text": o_text, "entities": kept, "persistent_id": str(i)})
        ptype = p.get("type") or "regular"
        if ptype not in ("regular", "quiz"):
            raise ApiError(400, "Bad Request: wrong poll type specified")
        allows_multiple = bool(p.get("allows_multiple_answers", False))
        allows_revoting = bool(p.get("allows_revoting", ptype == "regular"))
        correct: list[int] = []
        explanation: str | None = None
        explanation_entities: list[dict[str, Any]] = []
        if ptype == "quiz":
            raw_correct = p.get("correct_option_ids")
            if raw_correct is None and p.get("correct_option_id") is not None:
                raw_correct = [p["correct_option_id"]]
            if isinstance(raw_correct, int):
                raw_correct = [raw_correct]
            if not raw_correct:
                raise ApiError(400, "Bad Request: correct quiz option list must be non-empty")
            if not all(isinstance(c, int) for c in raw_correct):
                raise ApiError(400, "Bad Request: correct option identifier must be of type Number")
            if any(b <= a for a, b in itertools.pairwise(raw_correct)):
                raise ApiError(400, "Bad Request: correct quiz option list must be increasing")
            if any(not 0 <= c < len(options) for c in raw_correct):
                raise ApiError(400, "Bad Request: wrong quiz correct_option_id")
            correct = list(raw_correct)
            if isinstance(p.get("explanation"), str) and p["explanation"]:
                explanation, explanation_entities = self._format(
                    p["explanation"],
                    p.get("explanation_parse_mode"),
                    p.get("explanation_entities"),
                )
                if len(explanation) > POLL_EXPLANATION_MAX:
                    raise ApiError(
                        400,
                        "Bad Request: quiz explanation must have at most "
                        f"{POLL_EXPLANATION_MAX} characters",
                    )
                if explanation.count("\n") > POLL_EXPLANATION_LINE_FEEDS:
                    raise ApiError(
                        400,
                        "Bad Request: quiz explanation must have at most "
                        f"{POLL_EXPLANATION_LINE_FEEDS} line feeds",
                    )
        now = self._now()
        open_period = p.get("open_period")
        close_date = p.get("close_date")
        if open_period is not None:
            if not POLL_PERIOD_MIN <= open_period <= POLL_PERIOD_MAX:
                raise ApiError(
                    400,
                    f"Bad Request: open_period must be from {POLL_PERIOD_MIN} to "
                    f"{POLL_PERIOD_MAX} seconds",
                )
            close_date = now + open_period
        elif close_date is not None:
            if not POLL_PERIOD_MIN <= close_date - now <= POLL_PERIOD_MAX:
                raise ApiError(
                    400,
                    f"Bad Request: close_date must be from {POLL_PERIOD_MIN} to "
                    f"{POLL_PERIOD_MAX} seconds in the future",
                )
            open_period = close_date - now
        markup = self._check_markup(p.get("reply_markup"))
        msg = self._bot_message(chat, p)
        poll = _Poll(
            id=self._random_id(),
            chat_id=chat["id"],
            message_id=msg["message_id"],
            question=q_text,
            question_entities=[e for e in q_entities if e.get("type") == "custom_emoji"],
            options=options,
            type=ptype,
            is_anonymous=bool(p.get("is_anonymous", True)),
            allows_multiple_answers=allows_multiple,
            allows_revoting=allows_revoting,
            correct_option_ids=correct,
            explanation=explanation,
            explanation_entities=explanation_entities,
            open_period=open_period,
            close_date=close_date,
            is_closed=bool(p.get("is_closed", False)),
        )
        self._polls[poll.id] = poll
        msg["poll"] = self._poll_dict(poll)
        if markup:
            msg["reply_markup"] = markup
        if open_period is not None and not poll.is_closed and self._loop is not None:
            self._loop.call_later(open_period, self._expire_poll, poll.id)
        return self._store(chat["id"], msg)

    def _close_poll_locked(self, poll: _Poll) -> dict[str, Any]:
        poll.is_closed = True
        self._refresh_poll_message(poll)
        return self._poll_dict(poll)

    def _expire_poll(self, poll_id: str) -> None:
        with self._lock:
            poll = self._polls.get(poll_id)
            if poll is None or poll.is_closed:
                return
            state = self._close_poll_locked(poll)
        self._push("poll", state)

    def _api_stopPoll(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        chat = self._resolve_chat(p.get("chat_id"))
        self._check_can_send(chat)
        markup = self._check_markup(p.get("reply_markup"))
        msg = self._find_message(chat["id"], p.get("message_id"))
        if msg is None:
            raise ApiError(400, "Bad Request: message with poll to stop not found")
        if "poll" not in msg:
            raise ApiError(400, "Bad Request: message is not a poll")
        poll = self._polls.get(msg["poll"]["id"])
        if poll is None or msg.get("from", {}).get("id") != BOT_ID:
            raise ApiError(400, "Bad Request: poll can't be stopped")
        if poll.is_closed:
            raise ApiError(400, "Bad Request: poll has already been closed")
        state = self._close_poll_locked(poll)
        self._set_markup(msg, markup)
        self._push("poll", copy.deepcopy(state))
        return state

    # ----- commands, chats, misc

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if scope is None:
            scope = {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in (
            "default",
            "all_private_chats",
            "all_group_chats",
            "all_chat_administrators",
            "chat",
            "chat_administrators",
            "chat_member",
        ):
            raise ApiError(400, "Bad Request: can't parse BotCommandScope JSON object")
        return json.dumps(scope, sort_keys=True)

    @staticmethod
    def _language(p: dict[str, Any]) -> str:
        lang = p.get("language_code") or ""
        if lang and not re.fullmatch(r"[a-z]{2}", str(lang)):
            raise ApiError(400, "Bad Request: invalid language code specified")
        return str(lang)

    def _api_setMyCommands(self, p: dict[str, Any], files: Any) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        for cmd in commands:
            if not isinstance(cmd, dict):
                raise ApiError(400, "Bad Request: can't parse BotCommand JSON object")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(cmd.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            desc = cmd.get("description")
            if not isinstance(desc, str) or not 1 <= len(desc) <= 256:
                raise ApiError(400, "Bad Request: command description is invalid")
        key = (self._scope_key(p.get("scope")), self._language(p))
        if commands:
            self._commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self._commands.pop(key, None)
        return True

    def _api_getMyCommands(self, p: dict[str, Any], files: Any) -> list[dict[str, Any]]:
        key = (self._scope_key(p.get("scope")), self._language(p))
        return copy.deepcopy(self._commands.get(key, []))

    def _api_deleteMyCommands(self, p: dict[str, Any], files: Any) -> bool:
        key = (self._scope_key(p.get("scope")), self._language(p))
        self._commands.pop(key, None)
        return True

    def _api_getChat(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        chat = self._resolve_chat(p.get("chat_id"))
        info = dict(chat)
        info.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": True,
                    "limited_gifts": True,
                    "unique_gifts": True,
                    "premium_subscription": True,
                    "gifts_from_channels": True,
                },
            }
        )
        if chat["id"] in self._pinned:
            pinned = self._find_message(chat["id"], self._pinned[chat["id"]])
            if pinned is not None:
                info["pinned_message"] = copy.deepcopy(pinned)
        return info

    @staticmethod
    def _member_dict(user: dict[str, Any], status: str) -> dict[str, Any]:
        member: dict[str, Any] = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
                can_pin_messages=True,
                can_manage_topics=False,
            )
        elif status == "restricted":
            member.update(
                is_member=True,
                can_send_messages=False,
                can_send_audios=False,
                can_send_documents=False,
                can_send_photos=False,
                can_send_videos=False,
                can_send_video_notes=False,
                can_send_voice_notes=False,
                can_send_polls=False,
                can_send_other_messages=False,
                can_add_web_page_previews=False,
                can_change_info=False,
                can_invite_users=False,
                can_pin_messages=False,
                can_manage_topics=False,
                can_edit_tag=False,
                can_react_to_messages=False,
                until_date=0,
            )
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _api_getChatMember(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        chat = self._resolve_chat(p.get("chat_id"))
        user_id = p.get("user_id")
        if user_id == BOT_ID:
            status = (
                "member"
                if chat["type"] == "private"
                else self._bot_status.get(chat["id"], "member")
            )
            return self._member_dict(bot_user_dict(), status)
        user = self._users.get(user_id) if isinstance(user_id, int) else None
        if user is None:
            raise ApiError(400, "Bad Request: user not found")
        if chat["type"] == "private":
            if user_id != chat["id"]:
                raise ApiError(400, "Bad Request: user not found")
            return self._member_dict(user.to_dict(), "member")
        status = self._members.get(chat["id"], {}).get(user_id, "left")
        return self._member_dict(user.to_dict(), status)

    def _api_getChatAdministrators(self, p: dict[str, Any], files: Any) -> list[dict[str, Any]]:
        chat = self._resolve_chat(p.get("chat_id"))
        if chat["type"] == "private":
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        admins = []
        for uid, status in self._members.get(chat["id"], {}).items():
            if status in ("creator", "administrator") and uid in self._users:
                admins.append(self._member_dict(self._users[uid].to_dict(), status))
        if self._bot_status.get(chat["id"]) == "administrator":
            admins.append(self._member_dict(bot_user_dict(), "administrator"))
        return admins

    def _api_getChatMemberCount(self, p: dict[str, Any], files: Any) -> int:
        chat = self._resolve_chat(p.get("chat_id"))
        if chat["type"] == "private":
            return 2
        present = ("creator", "administrator", "member", "restricted")
        count = sum(1 for s in self._members.get(chat["id"], {}).values() if s in present)
        return count + (1 if self._bot_status.get(chat["id"], "member") in present else 0)

    def _api_leaveChat(self, p: dict[str, Any], files: Any) -> bool:
        chat = self._resolve_chat(p.get("chat_id"))
        if chat["type"] == "private":
            raise ApiError(400, "Bad Request: chat member status can't be changed in private chats")
        self._check_can_send(chat)
        old = self._bot_status.get(chat["id"], "member")
        self._bot_status[chat["id"]] = "left"
        self._push(
            "my_chat_member",
            {
                "chat": dict(chat),
                "from": bot_user_dict(),
                "date": self._now(),
                "old_chat_member": self._member_dict(bot_user_dict(), old),
                "new_chat_member": self._member_dict(bot_user_dict(), "left"),
            },
        )
        return True

    def _api_sendChatAction(self, p: dict[str, Any], files: Any) -> bool:
        chat = self._send_target(p)
        del chat
        if p.get("action") not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _api_setChatMenuButton(self, p: dict[str, Any], files: Any) -> bool:
        key = None
        if p.get("chat_id") is not None:
            key = self._resolve_chat(p["chat_id"])["id"]
        button = p.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise ApiError(400, "Bad Request: can't parse menu button JSON object")
        self._menu_buttons[key] = button
        return True

    def _api_getChatMenuButton(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        key = None
        if p.get("chat_id") is not None:
            key = self._resolve_chat(p["chat_id"])["id"]
        return copy.deepcopy(
            self._menu_buttons.get(key) or self._menu_buttons.get(None) or {"type": "default"}
        )

    def _api_pinChatMessage(self, p: dict[str, Any], files: Any) -> bool:
        chat = self._send_target(p)
        msg = self._find_message(chat["id"], p.get("message_id"))
        if msg is None:
            raise ApiError(400, "Bad Request: message to pin not found")
        self._pinned[chat["id"]] = msg["message_id"]
        return True

    def _api_getMyName(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        return {"name": bot_user_dict()["first_name"]}

    def _api_getMyDescription(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        return {"description": ""}

    def _api_getMyShortDescription(self, p: dict[str, Any], files: Any) -> dict[str, Any]:
        return {"short_description": ""}

    # ============================================================ test-side API

    # ----- users and chats

    def user(
        self,
        user_id: int,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
    ) -> FakeUser:
        """Create (or replace) a user who has started the bot; its private chat id is its id."""
        u = FakeUser(
            id=user_id,
            first_name=first_name or f"User{user_id}",
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        with self._lock:
            self._users[user_id] = u
            self._chats[user_id] = u.private_chat()
        return u

    def group(
        self,
        chat_id: int,
        title: str = "Study Group",
        type: str = "supergroup",
        *,
        username: str | None = None,
        bot_status: str = "member",
    ) -> FakeChat:
        """Create a group (``type`` group/supergroup/channel) the bot is a member of."""
        chat = FakeChat(id=chat_id, title=title, type=type, username=username)
        with self._lock:
            self._chats[chat_id] = chat.to_dict()
            self._bot_status[chat_id] = bot_status
            self._members.setdefault(chat_id, {})
        return chat

    def set_member(self, chat: FakeChat | int, user: FakeUser | int, status: str) -> None:
        """Set a user's status in a group as ``getChatMember`` reports it."""
        chat_d = self._chat_dict(chat)
        u = self._user_of(user)
        with self._lock:
            self._members.setdefault(chat_d["id"], {})[u.id] = status

    def set_bot_status(self, chat: FakeChat | int, status: str) -> None:
        """Set the bot's own status in a group (member, administrator, left, kicked)."""
        chat_d = self._chat_dict(chat)
        with self._lock:
            self._bot_status[chat_d["id"]] = status

    def block(self, user: FakeUser | int, *, notify: bool = True) -> dict[str, Any] | None:
        """The user blocks the bot: sends to their chat answer 403 from now on.

        Telegram tells the bot with a ``my_chat_member`` update (status ``kicked``); pass
        ``notify=False`` to suppress it.
        """
        u = self._user_of(user)
        with self._lock:
            was_blocked = u.id in self._blocked
            self._blocked.add(u.id)
        if was_blocked or not notify:
            return None
        return self._private_member_update(u, "member", "kicked")

    def unblock(self, user: FakeUser | int, *, notify: bool = True) -> dict[str, Any] | None:
        """The user unblocks the bot again."""
        u = self._user_of(user)
        with self._lock:
            was_blocked = u.id in self._blocked
            self._blocked.discard(u.id)
        if not was_blocked or not notify:
            return None
        return self._private_member_update(u, "kicked", "member")

    def _private_member_update(self, u: FakeUser, old: str, new: str) -> dict[str, Any]:
        return self._push(
            "my_chat_member",
            {
                "chat": u.private_chat(),
                "from": u.to_dict(),
                "date": self._now(),
                "old_chat_member": self._member_dict(bot_user_dict(), old),
                "new_chat_member": self._member_dict(bot_user_dict(), new),
            },
        )

    # ----- injecting user activity

    def _delivers_in_group(self, chat: dict[str, Any], message: dict[str, Any]) -> bool:
        """Whether a group message reaches the bot under Telegram's privacy mode."""
        if chat["type"] == "private":
            return True
        status = self._bot_status.get(chat["id"], "member")
        if status in ("left", "kicked"):
            return False
        if not self.privacy_mode or status in ("administrator", "creator"):
            return True
        text = message.get("text") or message.get("caption") or ""
        if command_entity(text):
            token = text.split()[0]
            if "@" not in token or token.split("@", 1)[1].lower() == BOT_USERNAME.lower():
                return True
        reply = message.get("reply_to_message")
        return bool(reply and reply.get("from", {}).get("id") == BOT_ID)

    def _user_message(
        self,
        u: FakeUser,
        chat: FakeChat | int | None,
        reply_to: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        chat_d = u.private_chat() if chat is None else self._chat_dict(chat)
        with self._lock:
            if chat is None:
                self._chats.setdefault(u.id, chat_d)
                self._blocked.discard(u.id)
            elif chat_d["type"] != "private":
                members = self._members.setdefault(chat_d["id"], {})
                if members.get(u.id) in (None, "left"):
                    members[u.id] = "member"
            msg: dict[str, Any] = {
                "message_id": self._new_message_id(chat_d["id"]),
                "from": u.to_dict(),
                "chat": dict(chat_d),
                "date": self._now(),
            }
            if reply_to is not None:
                stored = self._find_message(reply_to["chat"]["id"], reply_to["message_id"])
                if stored is None:
                    raise AssertionError(f"cannot reply to unknown message {reply_to!r}")
                reply = copy.deepcopy(stored)
                reply.pop("reply_to_message", None)
                msg["reply_to_message"] = reply
        return chat_d, msg

    def send_text(
        self,
        user: FakeUser | int,
        text: str,
        *,
        chat: FakeChat | int | None = None,
        reply_to: dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The user sends a text message (private chat unless ``chat`` is given).

        Returns ``(update, message)``; ``update`` is None when Telegram would not deliver the
        message to the bot (a group message the privacy mode hides from it).
        """
        u = self._user_of(user)
        chat_d, msg = self._user_message(u, chat, reply_to)
        msg["text"] = text
        ents = list(entities or [])
        cmd = command_entity(text)
        if cmd and not entities:
            ents.append(cmd)
        if ents:
            msg["entities"] = ents
        return self._deliver_user_message(chat_d, msg, "message")

    def _deliver_user_message(
        self, chat_d: dict[str, Any], msg: dict[str, Any], kind: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        with self._lock:
            stored = self._store(chat_d["id"], msg)
            deliver = self._delivers_in_group(chat_d, msg)
        update = self._push(kind, copy.deepcopy(msg)) if deliver else None
        return update, stored

    def send_document(
        self,
        user: FakeUser | int,
        filename: str,
        content: bytes,
        *,
        caption: str | None = None,
        mime_type: str | None = None,
        chat: FakeChat | int | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The user sends a file; the bot can getFile and download it."""
        u = self._user_of(user)
        chat_d, msg = self._user_message(u, chat, reply_to)
        with self._lock:
            record = self._register_file("document", content, filename, mime_type)
        msg["document"] = {
            "file_name": filename,
            "mime_type": record.mime_type,
            **self._file_fields(record),
        }
        if caption:
            msg["caption"] = caption
            cmd = command_entity(caption)
            if cmd:
                msg["caption_entities"] = [cmd]
        return self._deliver_user_message(chat_d, msg, "message")

    def edit_text(
        self, user: FakeUser | int, message: dict[str, Any], new_text: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The user edits one of their text messages: an ``edited_message`` update."""
        u = self._user_of(user)
        with self._lock:
            stored = self._find_message(message["chat"]["id"], message["message_id"])
            if stored is None or stored.get("from", {}).get("id") != u.id:
                raise AssertionError("users can only edit their own messages")
            stored["text"] = new_text
            cmd = command_entity(new_text)
            if cmd:
                stored["entities"] = [cmd]
            else:
                stored.pop("entities", None)
            stored["edit_date"] = self._now()
            snapshot = copy.deepcopy(stored)
            deliver = self._delivers_in_group(stored["chat"], stored)
        update = self._push("edited_message", copy.deepcopy(snapshot)) if deliver else None
        return update, snapshot

    def press(
        self,
        user: FakeUser | int,
        message: dict[str, Any],
        *,
        text: str | None = None,
        data: str | None = None,
    ) -> dict[str, Any]:
        """The user presses an inline button of a bot message: a ``callback_query`` update.

        The button is chosen by exact ``data`` or by ``text`` prefix; the query carries the
        message as it is now (after edits).
        """
        if text is None and data is None:
            raise AssertionError("press() needs text= or data=")
        u = self._user_of(user)
        with self._lock:
            chat_id = message["chat"]["id"]
            stored = self._find_message(chat_id, message["message_id"])
            if stored is None:
                raise AssertionError(
                    f"message {message['message_id']} in chat {chat_id} no longer exists"
                )
            if stored.get("from", {}).get("id") != BOT_ID:
                raise AssertionError("only the bot's messages have inline buttons to press")
            chosen = None
            for btn_text, btn_data in self._button_list(stored):
                if btn_data is None:
                    continue
                if (data is not None and btn_data == data) or (
                    data is None and text is not None and btn_text.startswith(text)
                ):
                    chosen = btn_data
                    break
            if chosen is None:
                raise AssertionError(
                    f"no inline button {text or data!r} on message {stored['message_id']}; "
                    f"buttons: {self._button_list(stored)!r}"
                )
            qid = self._random_id()
            self._callback_queries[qid] = {"answered": False, "user_id": u.id}
            query = {
                "id": qid,
                "from": u.to_dict(),
                "message": copy.deepcopy(stored),
                "chat_instance": self._chat_instance(chat_id),
                "data": chosen,
            }
        return self._push("callback_query", query)

    def answer_poll(
        self, user: FakeUser | int, poll_id: str, option_ids: list[int]
    ) -> dict[str, Any] | None:
        """The user votes (``[]`` retracts) in a poll the bot sent.

        Non-anonymous polls produce ``poll_answer`` then ``poll``; anonymous polls only
        ``poll``. Returns the first update, or None when the vote changes nothing. Votes a
        Telegram client would not allow raise AssertionError.
        """
        u = self._user_of(user)
        with self._lock:
            poll = self._polls.get(str(poll_id))
            if poll is None:
                raise AssertionError(f"unknown poll {poll_id!r}")
            if (
                poll.close_date is not None
                and not poll.is_closed
                and self._now() >= poll.close_date
            ):
                state = self._close_poll_locked(poll)
                self._push("poll", state)
            if poll.is_closed:
                raise AssertionError(f"poll {poll_id} is closed")
            chat = self._chats.get(poll.chat_id, {})
            if chat.get("type") == "private" and chat.get("id") != u.id:
                raise AssertionError("a user can only vote in polls of their own private chat")
            ids = sorted(set(option_ids))
            if len(ids) > 1 and not poll.allows_multiple_answers:
                raise AssertionError("this poll allows only one answer")
            if not ids and not poll.allows_revoting:
                raise AssertionError("this poll does not allow retracting a vote")
            if any(not 0 <= i < len(poll.options) for i in ids):
                raise AssertionError(f"poll has no option {ids}")
            previous = poll.votes.get(u.id)
            if previous and not poll.allows_revoting:
                raise AssertionError("this poll does not allow changing a vote")
            if (previous or []) == ids:
                return None
            if ids:
                poll.votes[u.id] = ids
            else:
                poll.votes.pop(u.id, None)
            self._refresh_poll_message(poll)
            state = self._poll_dict(poll)
            answer = {
                "poll_id": poll.id,
                "user": u.to_dict(),
                "option_ids": ids,
                "option_persistent_ids": [poll.options[i]["persistent_id"] for i in ids],
            }
        first = None
        if not poll.is_anonymous:
            first = self._push("poll_answer", answer)
        state_update = self._push("poll", state)
        return first or state_update

    def close_poll(self, poll_id: str) -> dict[str, Any]:
        """Make a poll's closing time arrive now; the bot receives the closed ``poll``."""
        with self._lock:
            poll = self._polls.get(str(poll_id))
            if poll is None:
                raise AssertionError(f"unknown poll {poll_id!r}")
            if poll.is_closed:
                raise AssertionError(f"poll {poll_id} is already closed")
            state = self._close_poll_locked(poll)
        return self._push("poll", state)

    def bot_added_to_group(
        self, chat: FakeChat | int, by_user: FakeUser | int, *, status: str = "member"
    ) -> dict[str, Any]:
        """A user adds the bot to a group: ``my_chat_member`` plus the service message."""
        u = self._user_of(by_user)
        if isinstance(chat, FakeChat):
            with self._lock:
                if chat.id not in self._chats:
                    self._chats[chat.id] = chat.to_dict()
                    self._members.setdefault(chat.id, {})
                    self._bot_status[chat.id] = "left"
        chat_d = self._chat_dict(chat)
        with self._lock:
            old = self._bot_status.get(chat_d["id"], "left")
            if old not in ("left", "kicked"):
                old = "left"
            self._bot_status[chat_d["id"]] = status
            members = self._members.setdefault(chat_d["id"], {})
            members.setdefault(u.id, "member")
        update = self._push(
            "my_chat_member",
            {
                "chat": dict(chat_d),
                "from": u.to_dict(),
                "date": self._now(),
                "old_chat_member": self._member_dict(bot_user_dict(), old),
                "new_chat_member": self._member_dict(bot_user_dict(), status),
            },
        )
        if chat_d["type"] != "channel":
            with self._lock:
                msg = {
                    "message_id": self._new_message_id(chat_d["id"]),
                    "from": u.to_dict(),
                    "chat": dict(chat_d),
                    "date": self._now(),
                    "new_chat_members": [bot_user_dict()],
                }
                self._store(chat_d["id"], msg)
            self._push("message", msg)
        return update

    def bot_removed_from_group(
        self, chat: FakeChat | int, by_user: FakeUser | int, *, status: str = "kicked"
    ) -> dict[str, Any]:
        """A user removes the bot from a group (``my_chat_member`` with ``kicked``/``left``)."""
        u = self._user_of(by_user)
        chat_d = self._chat_dict(chat)
        with self._lock:
            old = self._bot_status.get(chat_d["id"], "member")
            self._bot_status[chat_d["id"]] = status
        return self._push(
            "my_chat_member",
            {
                "chat": dict(chat_d),
                "from": u.to_dict(),
                "date": self._now(),
                "old_chat_member": self._member_dict(bot_user_dict(), old),
                "new_chat_member": self._member_dict(bot_user_dict(), status),
            },
        )

    def channel_post(
        self, chat: FakeChat | int, text: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A post in a channel the bot belongs to."""
        chat_d = self._chat_dict(chat)
        with self._lock:
            msg = {
                "message_id": self._new_message_id(chat_d["id"]),
                "sender_chat": dict(chat_d),
                "chat": dict(chat_d),
                "date": self._now(),
                "text": text,
            }
            cmd = command_entity(text)
            if cmd:
                msg["entities"] = [cmd]
            stored = self._store(chat_d["id"], msg)
        return self._push("channel_post", copy.deepcopy(msg)), stored

    def inject(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an arbitrary raw update; ``update_id`` is assigned when missing."""
        update = copy.deepcopy(update)
        with self._lock:
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
            self._update_log[update["update_id"]] = update
            self._pending.append(_Pending(update))
            result = copy.deepcopy(update)
        self._notify()
        return result

    def replay(self, update_id: int) -> dict[str, Any]:
        """Deliver an already delivered update again, as after a lost getUpdates offset."""
        with self._lock:
            update = self._update_log.get(update_id)
            if update is None:
                raise AssertionError(f"no update {update_id} was ever queued")
            self._pending.append(_Pending(update, replay=True))
            result = copy.deepcopy(update)
        self._notify()
        return result

    # ----- failures and timing

    def fail(
        self,
        method: str,
        *,
        status: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (``"*"`` for any) fail like Telegram.

        429 carries ``parameters.retry_after`` (default 5), ``migrate_to_chat_id`` a
        ``ChatMigrated`` answer; 502/503/504 answer with the gateway's HTML page.
        """
        with self._lock:
            self._fails.append(
                _Fail(
                    method="*" if method == "*" else _norm_method(method),
                    status=status,
                    description=description,
                    retry_after=retry_after,
                    migrate_to_chat_id=migrate_to_chat_id,
                    remaining=times,
                    chat_id=chat_id,
                )
            )

    def delay(self, method: str, seconds: float, times: int = 1, *, before: bool = False) -> None:
        """Answer the next ``times`` calls of ``method`` after ``seconds``.

        By default the call takes effect at once and only the answer is late (the message is
        sent although the client times out), as happens with Telegram; ``before=True`` delays
        the processing too.
        """
        with self._lock:
            self._delays.append(
                _Delay(
                    method="*" if method == "*" else _norm_method(method),
                    seconds=seconds,
                    remaining=times,
                    before=before,
                )
            )

    def clear_failures(self) -> None:
        with self._lock:
            self._fails.clear()
            self._delays.clear()

    # ----- webhook and delivery state

    @property
    def allowed_updates(self) -> list[str] | None:
        with self._lock:
            return list(self._allowed_updates) if self._allowed_updates is not None else None

    @property
    def webhook(self) -> dict[str, Any] | None:
        with self._lock:
            return dict(self._webhook) if self._webhook else None

    @property
    def webhook_targets(self) -> list[str] | None:
        with self._lock:
            return list(self._webhook_targets) if self._webhook_targets else None

    @webhook_targets.setter
    def webhook_targets(self, urls: list[str] | None) -> None:
        with self._lock:
            self._webhook_targets = list(urls) if urls else None
        self._notify()

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(e.update) for e in self._pending]

    @property
    def updates(self) -> list[dict[str, Any]]:
        """Every update ever queued, by update_id."""
        with self._lock:
            return [copy.deepcopy(self._update_log[k]) for k in sorted(self._update_log)]

    def wait_delivered(self, timeout: float = 10.0) -> None:
        """Wait until no update is pending (confirmed by getUpdates or delivered by webhook)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{len(self._pending)} updates still pending: "
                        f"{[e.update['update_id'] for e in self._pending]}"
                    )
                self._cond.wait(min(remaining, 0.05))

    # ----- inspection

    @staticmethod
    def _matches(
        call: Call,
        method: str | None,
        chat_id: Any,
        text_contains: str | None,
        predicate: Callable[[Call], bool] | None,
    ) -> bool:
        if method is not None and _norm_method(call.method) != _norm_method(method):
            return False
        if chat_id is not None and str(call.params.get("chat_id")) != str(chat_id):
            return False
        if text_contains is not None:
            text = call.text
            if text is None or text_contains not in text:
                return False
        return predicate is None or bool(predicate(call))

    def calls(
        self, method: str | None = None, *, chat_id: Any = None, since: int = 0
    ) -> list[Call]:
        with self._lock:
            return [c for c in self._calls[since:] if self._matches(c, method, chat_id, None, None)]

    def mark(self) -> int:
        """The index the next call will get; pass it as ``since=``."""
        with self._lock:
            return len(self._calls)

    def _recent(self, since: int) -> str:
        calls = self._calls[since:]
        polls = sum(1 for c in calls if c.method == "getUpdates")
        shown = [c for c in calls if c.method != "getUpdates"][-30:]
        lines = [c.describe() for c in shown] or ["(none)"]
        return f"calls since #{since} ({polls} getUpdates not shown):\n  " + "\n  ".join(lines)

    def wait_for(
        self,
        method: str | None,
        *,
        since: int = 0,
        timeout: float = 15.0,
        chat_id: Any = None,
        text_contains: str | None = None,
        predicate: Callable[[Call], bool] | None = None,
    ) -> Call:
        """The first matching call with index >= since, waiting up to ``timeout`` seconds."""
        return self.wait_for_count(
            method,
            1,
            since=since,
            timeout=timeout,
            chat_id=chat_id,
            text_contains=text_contains,
            predicate=predicate,
        )[0]

    def wait_for_count(
        self,
        method: str | None,
        n: int,
        *,
        since: int = 0,
        timeout: float = 15.0,
        chat_id: Any = None,
        text_contains: str | None = None,
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """The first ``n`` matching calls with index >= since, waiting as needed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            scanned = since
            found: list[Call] = []
            while True:
                for call in self._calls[scanned:]:
                    if self._matches(call, method, chat_id, text_contains, predicate):
                        found.append(call)
                        if len(found) >= n:
                            return found
                scanned = len(self._calls)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    wanted = [f"method={method!r}"]
                    if chat_id is not None:
                        wanted.append(f"chat_id={chat_id!r}")
                    if text_contains is not None:
                        wanted.append(f"text_contains={text_contains!r}")
                    if predicate is not None:
                        wanted.append("predicate")
                    raise AssertionError(
                        f"expected {n} call(s) {', '.join(wanted)} within {timeout}s, "
                        f"got {len(found)}; {self._recent(since)}"
                    )
                self._cond.wait(remaining)

    def assert_no_call(
        self,
        method: str | None,
        *,
        since: int,
        within: float = 1.0,
        chat_id: Any = None,
        text_contains: str | None = None,
        predicate: Callable[[Call], bool] | None = None,
    ) -> None:
        """Fail if a matching call arrives (index >= since) within ``within`` seconds."""
        try:
            call = self.wait_for(
                method,
                since=since,
                timeout=within,
                chat_id=chat_id,
                text_contains=text_contains,
                predicate=predicate,
            )
        except AssertionError:
            return
        with self._lock:
            recent = self._recent(since)
        raise AssertionError(f"unexpected call {call.describe()}; {recent}")

    async def wait_for_async(self, method: str | None, **kwargs: Any) -> Call:
        """``wait_for`` for async tests: waits without blocking their event loop."""
        return await asyncio.to_thread(self.wait_for, method, **kwargs)

    async def wait_for_count_async(self, method: str | None, n: int, **kwargs: Any) -> list[Call]:
        return await asyncio.to_thread(self.wait_for_count, method, n, **kwargs)

    def messages(self, chat_id: Any, *, include_user: bool = False) -> list[dict[str, Any]]:
        """The messages in a chat as they are now (edited, not deleted), oldest first."""
        if isinstance(chat_id, FakeChat | FakeUser):
            chat_id = chat_id.id
        with self._lock:
            stored = self._messages.get(chat_id, {})
            return [
                copy.deepcopy(m)
                for _, m in sorted(stored.items())
                if include_user or m.get("from", {}).get("id") == BOT_ID or "sender_chat" in m
            ]

    def last_message(self, chat_id: Any) -> dict[str, Any] | None:
        """The bot's latest message in a chat, or None."""
        msgs = self.messages(chat_id)
        return msgs[-1] if msgs else None

    def message(self, chat_id: Any, message_id: int) -> dict[str, Any] | None:
        """A stored message as it is now, or None when unknown or deleted."""
        with self._lock:
            found = self._find_message(chat_id, message_id)
            return copy.deepcopy(found) if found is not None else None

    @staticmethod
    def _button_list(message: dict[str, Any]) -> list[tuple[str, str | None]]:
        markup = message.get("reply_markup") or {}
        return [
            (b.get("text", ""), b.get("callback_data"))
            for row in markup.get("inline_keyboard", [])
            for b in row
        ]

    def buttons(self, message: dict[str, Any]) -> list[tuple[str, str | None]]:
        """``(text, callback_data)`` of a message's inline buttons, as currently stored."""
        with self._lock:
            stored = self._find_message(message["chat"]["id"], message["message_id"])
            return self._button_list(stored if stored is not None else message)

    def sent_document(self, call: Call) -> tuple[str, bytes]:
        """``(filename, content)`` of the document a sendDocument call carried."""
        if "document" in call.files:
            return call.files["document"]
        ref = call.params.get("document")
        if isinstance(ref, str) and ref.startswith("attach://"):
            return call.files[ref[len("attach://") :]]
        with self._lock:
            record = self._files.get(str(ref)) if ref is not None else None
            if record is None and call.ok:
                doc = (call.result or {}).get("document") or {}
                record = self._files.get(doc.get("file_id", ""))
        if record is None:
            raise AssertionError(f"call {call.describe()} carried no document")
        return record.filename or "", record.content

    def file_content(self, file_id: str) -> bytes:
        """The bytes behind a file_id (sent by the bot or by a user)."""
        with self._lock:
            record = self._files.get(file_id)
        if record is None:
            raise AssertionError(f"unknown file_id {file_id!r}")
        return record.content

    def poll(self, poll_id: str) -> dict[str, Any]:
        """A poll as the bot sees it now (counts, closed state)."""
        with self._lock:
            poll = self._polls.get(str(poll_id))
            if poll is None:
                raise AssertionError(f"unknown poll {poll_id!r}")
            return self._poll_dict(poll)

    @property
    def commands(self) -> dict[str, list[dict[str, Any]]]:
        """Commands registered for the default scope, by language code ("" = all)."""
        with self._lock:
            default = self._scope_key(None)
            return {
                lang: copy.deepcopy(cmds)
                for (scope, lang), cmds in self._commands.items()
                if scope == default
            }

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """Commands registered for one scope and language, exactly as getMyCommands answers."""
        with self._lock:
            return copy.deepcopy(self._commands.get((self._scope_key(scope), language_code), []))

    def is_blocked(self, user: FakeUser | int) -> bool:
        uid = user.id if isinstance(user, FakeUser) else user
        with self._lock:
            return uid in self._blocked

    def bot_status(self, chat: FakeChat | int) -> str:
        chat_id = chat.id if isinstance(chat, FakeChat) else chat
        with self._lock:
            return self._bot_status.get(chat_id, "member")
