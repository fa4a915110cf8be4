"""End to end in webhook mode: setWebhook, delivery answered after processing, the secret,
readiness (/health) with the database up and down, and SIGTERM with an update in hand."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests import dbutil
from tests.e2e.chat import free_port, register, say
from tests.e2e.harness import BotProcess
from tests.fakebot import FakeBotAPI

pytestmark = pytest.mark.e2e

SECRET = "webhook-secret_0123456789"
HELP_HEAD = "你好。你可以"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(webhook_concurrency=4) as server:
        yield server


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def bot(
    fake: FakeBotAPI, module_database_url: str, port: int, tmp_path_factory
) -> Iterator[BotProcess]:
    process = BotProcess(
        fake,
        tmp_path=tmp_path_factory.mktemp("webhook"),
        database_url=module_database_url,
        config={
            "departments": ["办公室", "宣传科"],
            "telegram": {
                "webhook": {
                    "url": f"http://127.0.0.1:{port}/telegram",
                    "listen": "127.0.0.1",
                    "port": port,
                    "secret_token": SECRET,
                }
            },
        },
    )
    process.start()
    yield process
    process.terminate()


def http(
    port: int, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST" if data is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_webhook_is_set_with_secret_and_update_types(
    bot: BotProcess, fake: FakeBotAPI, port: int
) -> None:
    hook = fake.webhook
    assert hook is not None and hook["url"] == f"http://127.0.0.1:{port}/telegram"
    assert hook["secret_token"] == SECRET
    assert set(fake.allowed_updates or []) >= {
        "message",
        "callback_query",
        "poll",
        "poll_answer",
        "my_chat_member",
    }
    assert SECRET not in bot.log_text()


def test_registration_over_the_webhook(
    bot: BotProcess, fake: FakeBotAPI, module_database_url: str
) -> None:
    user = fake.user(7001, first_name="Han")
    assert "注册成功" in register(fake, user, "韩一", "宣传科")
    assert (
        dbutil.scalar(module_database_url, "SELECT count(*) FROM members WHERE telegram_id = 7001")
        == 1
    )
    delivered = {uid: outcome for uid, _url, outcome in fake.webhook_deliveries}
    assert delivered and set(delivered.values()) == {200}


def test_forged_requests_are_refused(
    bot: BotProcess, fake: FakeBotAPI, port: int, module_database_url: str
) -> None:
    forged = {
        "update_id": 999_001,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": 7002, "type": "private", "first_name": "Eve"},
            "from": {"id": 7002, "is_bot": False, "first_name": "Eve"},
            "text": "/start",
        },
    }
    mark = fake.mark()
    assert http(port, "/telegram", forged)[0] == 403
    assert http(port, "/telegram", forged, {"X-Telegram-Bot-Api-Secret-Token": "guess"})[0] == 403
    fake.assert_no_call("sendMessage", since=mark, chat_id=7002, within=0.5)
    assert (
        dbutil.scalar(
            module_database_url, "SELECT count(*) FROM processed_updates WHERE update_id = 999001"
        )
        == 0
    )
    assert "refused a webhook request" in bot.log_text()


def test_health_reports_the_database(bot: BotProcess, port: int, module_database_url: str) -> None:
    status, body = http(port, "/health")
    assert status == 200 and body["status"] == "ok" and body["database"] == "ok"
    with database_unavailable(module_database_url):
        status, body = http(port, "/health")
        assert status == 503 and body["status"] == "unavailable"
        assert body["database"].startswith("error")
    status, body = http(port, "/health")
    assert status == 200 and body["database"] == "ok"


class database_unavailable:
    """SQLite: an exclusive lock held by someone else; PostgreSQL: connections refused."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.holder: sqlite3.Connection | None = None

    def _admin(self, sql: str) -> None:
        server = dbutil.pg_server_url()
        assert server is not None
        engine = dbutil.sync_engine(dbutil.async_url(server))
        with engine.connect() as conn:
            conn.execute(text(sql), {"db": self.url.rsplit("/", 1)[1]})
            conn.commit()

    def __enter__(self) -> None:
        if self.url.startswith("sqlite"):
            self.holder = sqlite3.connect(self.url.split("///", 1)[1], isolation_level=None)
            self.holder.execute("BEGIN EXCLUSIVE")
            return
        name = self.url.rsplit("/", 1)[1]
        self._admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        self._admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :db AND pid <> pg_backend_pid()"
        )

    def __exit__(self, *exc: object) -> None:
        if self.holder is not None:
            self.holder.execute("COMMIT")
            self.holder.close()
            return
        name = self.url.rsplit("/", 1)[1]
        self._admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        dbutil.dispose_all()


def test_telegram_hears_back_only_after_processing(bot: BotProcess, fake: FakeBotAPI) -> None:
    user = fake.user(7003, first_name="Yang")
    register(fake, user, "杨三", "办公室")
    mark = fake.mark()
    fake.delay("sendMessage", 1.5, before=True)
    update = fake.send_text(user, "/help")[0]
    assert update is not None
    in_hand = fake.wait_for("sendMessage", since=mark, chat_id=user.id)
    assert in_hand.status is None
    assert update["update_id"] not in {uid for uid, _, _ in fake.webhook_deliveries}
    fake.wait_delivered(timeout=20)
    assert in_hand.status == 200 and HELP_HEAD in in_hand.params["text"]
    outcomes = [o for uid, _, o in fake.webhook_deliveries if uid == update["update_id"]]
    assert outcomes == [200]


def test_sigterm_finishes_the_update_in_hand(
    bot: BotProcess, fake: FakeBotAPI, module_database_url: str
) -> None:
    user = fake.user(7004, first_name="Qin")
    register(fake, user, "秦四", "办公室")
    mark = fake.mark()
    fake.delay("sendMessage", 2, before=True)
    update = fake.send_text(user, "/help")[0]
    assert update is not None
    in_hand = fake.wait_for("sendMessage", since=mark, chat_id=user.id)
    assert in_hand.status is None
    assert bot.terminate() == 0
    assert in_hand.status == 200 and HELP_HEAD in in_hand.params["text"]
    uid = update["update_id"]
    assert [o for u, _, o in fake.webhook_deliveries if u == uid] == [200]
    assert (
        dbutil.scalar(
            module_database_url,
            "SELECT count(*) FROM processed_updates WHERE update_id = :u",
            u=uid,
        )
        == 1
    )
    log = bot.log_text()
    assert "finishing 1 update(s) in hand" in log
    assert fake.webhook is not None  # the webhook stays set for the other replicas
    bot.start()
    assert HELP_HEAD in say(fake, user, "/help").params["text"]
    assert fake.token not in bot.log_text()


def test_a_second_process_on_a_taken_port_fails_with_one_line(
    bot: BotProcess, fake: FakeBotAPI, module_database_url: str, port: int, tmp_path
) -> None:
    from tests.e2e.harness import run_cli

    result = run_cli(
        ["run"],
        tmp_path=tmp_path,
        database_url=module_database_url,
        fake=fake,
        config={
            "telegram": {
                "webhook": {
                    "url": "http://127.0.0.1:1/telegram",
                    "port": port,
                    "listen": "127.0.0.1",
                }
            }
        },
    )
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    # The refused start did not move the webhook away from the running process.
    assert fake.webhook is not None and fake.webhook["url"].endswith(f":{port}/telegram")
