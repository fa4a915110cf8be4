"""End to end: the bot under faults — redelivered updates, Telegram errors, a locked or
vanished database, SIGTERM with an update in hand — and the token never in its log.

One bot process (long polling, debug logging so that every Bot API URL is logged and must be
redacted) serves the module; a test that stops it starts it again.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests import dbutil
from tests.e2e.chat import register, say
from tests.e2e.harness import BotProcess, run_cli
from tests.fakebot import Call, FakeBotAPI
from tests.invariants import assert_invariants

pytestmark = pytest.mark.e2e

ADMIN = 9101
APOLOGY = "抱歉，系统出了点问题"
HELP_HEAD = "你好。你可以"


@pytest.fixture(scope="module")
def bot(fake_bot: FakeBotAPI, module_database_url: str, tmp_path_factory) -> Iterator[BotProcess]:
    process = BotProcess(
        fake_bot,
        tmp_path=tmp_path_factory.mktemp("faults"),
        database_url=module_database_url,
        config={
            "departments": ["办公室", "宣传科"],
            "admins": [ADMIN],
            "log_level": "DEBUG",
        },
    )
    process.start()
    yield process
    process.terminate()


@pytest.fixture(scope="module")
def member(bot: BotProcess, fake_bot: FakeBotAPI):
    user = fake_bot.user(6001, first_name="Zhou", username="zhou6001")
    assert "注册成功" in register(fake_bot, user, "周一", "办公室")
    return user


def ok_reply(fake: FakeBotAPI, chat_id: int, since: int, timeout: float = 30) -> Call:
    return fake.wait_for(
        "sendMessage", since=since, chat_id=chat_id, timeout=timeout, predicate=lambda c: c.ok
    )


def texts(fake: FakeBotAPI, chat_id: int, since: int) -> list[str]:
    return [
        c.params.get("text", "") for c in fake.calls("sendMessage", chat_id=chat_id, since=since)
    ]


def counts(url: str) -> tuple[int, int, int]:
    return (
        dbutil.scalar(url, "SELECT count(*) FROM members"),
        dbutil.scalar(url, "SELECT count(*) FROM points_ledger"),
        dbutil.scalar(url, "SELECT count(*) FROM pending_inputs"),
    )


def test_replayed_updates_have_no_second_effect(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    user = fake_bot.user(6002, first_name="Wu")
    start = fake_bot.mark()
    register(fake_bot, user, "吴二", "宣传科")
    replies = len(texts(fake_bot, user.id, start))
    before = counts(module_database_url)
    ids = [u["update_id"] for u in fake_bot.updates if _from(u) == user.id]
    assert len(ids) == 3  # /start, the name, the department button
    # Replayed to the running process (a lost getUpdates offset)...
    mark = fake_bot.mark()
    for uid in ids:
        fake_bot.replay(uid)
    bot.wait_handled(timeout=20)  # the process is done with them
    fake_bot.assert_no_call("sendMessage", since=mark, chat_id=user.id, within=0.3)
    # ...and to a fresh process that has nothing in memory: processed_updates decides.
    bot.restart()
    mark = fake_bot.mark()
    for uid in ids:
        fake_bot.replay(uid)
    for uid in ids:
        log_line(bot, f"update={uid} kind=", contains="skipped=redelivered")
    bot.wait_handled(timeout=20)
    fake_bot.assert_no_call("sendMessage", since=mark, chat_id=user.id, within=0.3)
    assert counts(module_database_url) == before
    assert len(texts(fake_bot, user.id, start)) == replies
    assert "吴二" in say(fake_bot, user, "/start").params["text"]


def _from(update: dict) -> int | None:
    for key in ("message", "callback_query"):
        if key in update:
            return update[key]["from"]["id"]
    return None


def test_unreadable_and_impossible_updates_do_not_block_the_others(
    bot: BotProcess, fake_bot: FakeBotAPI, member
) -> None:
    mark = fake_bot.mark()
    unreadable = fake_bot.inject({"message": {"text": "no id, no date"}})
    impossible = fake_bot.inject({"message": {"message_id": 1, "date": 0, "text": "/help"}})
    fake_bot.send_text(member, "/help")
    assert HELP_HEAD in ok_reply(fake_bot, member.id, mark).params["text"]
    bot.wait_handled(timeout=20)
    log_line(bot, f"update {unreadable['update_id']} cannot be read", contains="skipped")
    log_line(bot, f"update={impossible['update_id']} ", contains="skipped=malformed")


def test_flood_limit_and_bad_gateway_are_waited_out(
    bot: BotProcess, fake_bot: FakeBotAPI, member
) -> None:
    mark = fake_bot.mark()
    fake_bot.fail("sendMessage", status=429, retry_after=1, chat_id=member.id)
    fake_bot.send_text(member, "/help")
    reply = ok_reply(fake_bot, member.id, mark)
    assert HELP_HEAD in reply.params["text"]
    assert [c.status for c in fake_bot.calls("sendMessage", chat_id=member.id, since=mark)] == [
        429,
        200,
    ]

    mark = fake_bot.mark()
    fake_bot.fail("sendMessage", status=502, times=2, chat_id=member.id)
    fake_bot.send_text(member, "/help")
    reply = ok_reply(fake_bot, member.id, mark)
    assert HELP_HEAD in reply.params["text"]
    statuses = [c.status for c in fake_bot.calls("sendMessage", chat_id=member.id, since=mark)]
    assert statuses == [502, 502, 200]
    assert not any(APOLOGY in t for t in texts(fake_bot, member.id, mark))


def test_timeout_is_not_answered_twice(bot: BotProcess, fake_bot: FakeBotAPI, member) -> None:
    # Telegram posts the message but the answer arrives after the client gave up (5 s).
    mark = fake_bot.mark()
    fake_bot.delay("sendMessage", 6.5)
    fake_bot.send_text(member, "/help")
    first = fake_bot.wait_for("sendMessage", since=mark, chat_id=member.id)
    assert HELP_HEAD in first.params["text"]
    time.sleep(7)
    # No duplicate (repeating a send could post it twice), no apology for a delivered reply.
    assert len(texts(fake_bot, member.id, mark)) == 1
    assert HELP_HEAD in say(fake_bot, member, "/help").params["text"]
    assert re.search(r"kind=command:help .*status=error ms=\S+ error=TimedOut", bot.log_text())


def test_not_modified_edit_counts_as_done(bot: BotProcess, fake_bot: FakeBotAPI) -> None:
    user = fake_bot.user(6003, first_name="Zheng")
    say(fake_bot, user, "/start")
    say(fake_bot, user, "郑三")
    message = fake_bot.messages(user.id)[-1]
    mark = fake_bot.mark()
    fake_bot.fail(
        "editMessageReplyMarkup",
        status=400,
        description="Bad Request: message is not modified: specified new message content and "
        "reply markup are exactly the same as a current content and reply markup of the message",
    )
    fake_bot.press(user, message, text="宣传科")
    welcome = ok_reply(fake_bot, user.id, mark)
    assert "注册成功" in welcome.params["text"]
    assert [c.status for c in fake_bot.calls("editMessageReplyMarkup", since=mark)] == [400]


def test_blocked_member_is_marked_unreachable_and_nothing_breaks(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    user = fake_bot.user(6004, first_name="Feng")
    register(fake_bot, user, "冯四", "办公室")
    reachable = "SELECT reachable FROM members WHERE telegram_id = :t"
    # A reply answered 403: the member blocked the bot meanwhile.
    mark = fake_bot.mark()
    fake_bot.fail("sendMessage", status=403, chat_id=user.id)
    fake_bot.send_text(user, "/help")
    fake_bot.wait_for(
        "sendMessage", since=mark, chat_id=user.id, predicate=lambda c: c.status == 403
    )
    _wait_until(lambda: not dbutil.scalar(module_database_url, reachable, t=user.id))
    assert len(fake_bot.calls("sendMessage", chat_id=user.id, since=mark)) == 1  # no apology try
    # Telegram's own notice: blocked, then unblocked.
    fake_bot.unblock(user, notify=False)
    dbutil.execute(
        module_database_url, "UPDATE members SET reachable = true WHERE telegram_id = :t", t=user.id
    )
    mark = fake_bot.mark()
    fake_bot.block(user)
    _wait_until(lambda: not dbutil.scalar(module_database_url, reachable, t=user.id))
    fake_bot.unblock(user)
    _wait_until(lambda: bool(dbutil.scalar(module_database_url, reachable, t=user.id)))
    bot.wait_handled()
    # Neither notice is answered in the private chat (there is nobody to greet).
    fake_bot.assert_no_call("sendMessage", since=mark, chat_id=user.id, within=1.0)
    other = fake_bot.user(6005, first_name="Chu")
    assert "/start" in say(fake_bot, other, "/help").params["text"]


def _wait_until(predicate, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_locked_sqlite_database_waits_then_answers(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str, member
) -> None:
    if not module_database_url.startswith("sqlite"):
        pytest.skip("SQLite locking; PostgreSQL outages are tested below")
    path = module_database_url.split("///", 1)[1]
    holder = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    released = threading.Event()

    def release_later() -> None:
        time.sleep(3)
        holder.execute("COMMIT")
        holder.close()
        released.set()

    mark = fake_bot.mark()
    fake_bot.send_text(member, "/help")
    threading.Thread(target=release_later, daemon=True).start()
    reply = ok_reply(fake_bot, member.id, mark, timeout=40)
    assert released.is_set(), "answered while the database was locked"
    assert HELP_HEAD in reply.params["text"]
    assert HELP_HEAD in say(fake_bot, member, "/help").params["text"]


def test_postgres_connections_killed_then_database_unavailable(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str, member
) -> None:
    if module_database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: SQLite has no server to lose")
    name = module_database_url.rsplit("/", 1)[1]
    server = dbutil.pg_server_url()
    assert server is not None
    admin = dbutil.sync_engine(dbutil.async_url(server))
    terminate = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = :db AND pid <> pg_backend_pid()"
    )
    with admin.connect() as conn:
        killed = conn.execute(text(terminate), {"db": name}).scalar()
        conn.commit()
    assert killed >= 1
    dbutil.dispose_all()
    # The pool notices the dead connections (pre-ping) and reconnects: no error at all.
    reply = say(fake_bot, member, "/help")
    assert HELP_HEAD in reply.params["text"]

    # Now the database refuses every connection for a while ("PostgreSQL is down").
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        conn.execute(text(terminate), {"db": name})
        conn.commit()
    try:
        mark = fake_bot.mark()
        fake_bot.send_text(member, "/help")
        apology = fake_bot.wait_for("sendMessage", since=mark, chat_id=member.id)
        assert APOLOGY in apology.params["text"]
        fake_bot.assert_no_call(
            "sendMessage", since=apology.index + 1, chat_id=member.id, within=1.5
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            conn.commit()
        dbutil.dispose_all()
    assert HELP_HEAD in say(fake_bot, member, "/help").params["text"]
    assert bot.running


def test_sigterm_finishes_the_update_in_hand(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str, member
) -> None:
    mark = fake_bot.mark()
    fake_bot.delay("sendMessage", 2, before=True)
    update = fake_bot.send_text(member, "/help")[0]
    assert update is not None
    in_hand = fake_bot.wait_for("sendMessage", since=mark, chat_id=member.id)
    assert in_hand.status is None  # the reply is being sent right now
    assert bot.terminate() == 0
    assert in_hand.status == 200 and HELP_HEAD in in_hand.params["text"]
    uid = update["update_id"]
    assert "status=ok" in log_line(bot, f"update={uid} kind=command:help user={member.id}")
    assert (
        dbutil.scalar(
            module_database_url,
            "SELECT count(*) FROM processed_updates WHERE update_id = :u",
            u=uid,
        )
        == 1
    )
    assert not fake_bot.pending_updates  # confirmed to Telegram before exiting
    bot.start()
    fake_bot.assert_no_call("sendMessage", since=in_hand.index + 1, chat_id=member.id, within=0.5)


def test_update_log_lines_name_the_member(
    bot: BotProcess, fake_bot: FakeBotAPI, member, module_database_url: str
) -> None:
    say(fake_bot, member, "/help")
    member_id = dbutil.scalar(
        module_database_url, "SELECT id FROM members WHERE telegram_id = :t", t=member.id
    )
    line = log_line(bot, f"user={member.id} ")
    assert f"member={member_id} " in line and "kind=command:help" in line and "ms=" in line
    stranger = fake_bot.user(6099)
    say(fake_bot, stranger, "/help")
    line = log_line(bot, "user=6099 ")
    assert "member=- " in line and "status=ok" in line


def log_line(bot: BotProcess, needle: str, timeout: float = 10, contains: str = "") -> str:
    """The latest update log line with ``needle`` (and ``contains``), waiting for it: it is
    written just after the reply."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            ln
            for ln in bot.log_text().splitlines()
            if needle in ln and contains in ln and "update" in ln
        ]
        if found:
            return found[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no update log line with {needle!r}")
        time.sleep(0.05)


def test_invariants_hold_and_the_token_never_reached_the_log(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    assert_invariants(module_database_url)
    log = bot.log_text()
    # Debug logging printed every Bot API URL; all of them redacted.
    assert "/bot<token>/getUpdates" in log
    assert fake_bot.token not in log
    assert "Traceback" not in "".join(
        c.params.get("text", "") for c in fake_bot.calls("sendMessage")
    )


def test_unreachable_bot_api_exits_with_one_line_without_the_token(
    tmp_path: Path, module_database_url: str
) -> None:
    # A mistyped scheme: the HTTP client's error quotes the whole URL, token included.
    result = run_cli(
        ["run"],
        tmp_path=tmp_path,
        database_url=module_database_url,
        config={
            "telegram": {
                "token": "123456:TEST-TOKEN",
                "base_url": "htp://127.0.0.1:1/bot",
                "base_file_url": "htp://127.0.0.1:1/file/bot",
            }
        },
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert any(ln.startswith("studybot: cannot reach the Bot API") for ln in lines), result.stderr
    assert "/bot<token>/getMe" in result.stderr  # the URL was there, redacted
    assert "123456:TEST-TOKEN" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
