"""End to end: scheduled pushes, "已学习", restarts, missed pushes, failures, study sessions.

One bot process serves the module (restarted where a test needs it). Members are written to
the database before the bot starts; the plan is loaded with ``studybot plan load`` a few
seconds ahead of its first push, so the push happens whether the process is up in one second
or in five (a push within ``misfire_grace`` is caught up on start-up).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.db.engine import create_engine, create_session_factory
from tests import dbutil, factories
from tests.e2e.chat import say
from tests.e2e.harness import BotProcess, run_cli
from tests.fakebot import Call, FakeBotAPI, FakeChat

pytestmark = pytest.mark.e2e

TZ = ZoneInfo("Asia/Shanghai")
ADMIN = 9100
GROUP = -1005100
OFFICE = {5101: "甲一", 5102: "甲二"}  # 办公室
PRESS = {5201: "乙一", 5202: "乙二"}  # 宣传科
BLOCKED = 5203  # 宣传科, has blocked the bot
SLOW = 5204  # 宣传科, Telegram answers 429 once for this chat
OUTSIDER = 5999  # talks to the bot but is not registered
MEMBERS = {**OFFICE, **PRESS, BLOCKED: "乙三", SLOW: "乙四", ADMIN: "管理员"}
DEPARTMENTS = {**{k: "办公室" for k in OFFICE}, ADMIN: "办公室"}
TIMEOUT = 40
GROUP_CHAT = FakeChat(GROUP, "学习群")


def local_iso(moment: dt.datetime) -> str:
    return moment.astimezone(TZ).strftime("%Y-%m-%dT%H:%M:%S")


def db_time(url: str, moment: dt.datetime) -> object:
    """A UTC timestamp as the UTCDateTime column stores it on this backend."""
    if url.startswith("sqlite"):
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


def plan_text(items: list[str]) -> str:
    return "items:\n" + "".join("  - " + item + "\n" for item in items)


def first_items(due: dt.datetime) -> list[str]:
    when = local_iso(due)
    return [
        f'{{id: e2e-all, title: 全员学习 E2E, body: 正文, when: "{when}", quiz: {{bank: e2e-bank, questions: 2}}}}',
        f'{{id: e2e-office, title: 办公室专题 E2E, body: 正文, when: "{when}", audience: [办公室]}}',
        f'{{id: e2e-group, title: 群组学习 E2E, body: 正文, when: "{when}", audience: [{GROUP}]}}',
    ]


async def _populate(url: str) -> None:
    engine = create_engine(url)
    db = create_session_factory(engine)
    async with db.begin() as session:
        for telegram_id, name in MEMBERS.items():
            await factories.member(
                session, name, dept=DEPARTMENTS.get(telegram_id, "宣传科"), telegram_id=telegram_id
            )
        await factories.bank(session, slug="e2e-bank")
    await engine.dispose()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("materials")


@pytest.fixture(scope="module")
def config(home: Path) -> dict:
    reminder = (dt.datetime.now(TZ) + dt.timedelta(hours=12)).strftime("%H:%M")
    return {
        "departments": ["办公室", "宣传科"],
        "admins": [ADMIN],
        "groups": [GROUP],
        "study_plan": "plan.yaml",
        "schedule": {"tick_seconds": 1, "misfire_grace": 600, "reminder_time": reminder},
        "points": {"material": {"points": 1, "daily_cap": 6}, "session": {"points": 2}},
    }


@pytest.fixture(scope="module")
def started(
    fake_bot: FakeBotAPI, module_database_url: str, home: Path, config: dict
) -> Iterator[tuple[BotProcess, dt.datetime]]:
    fake = fake_bot
    for telegram_id, name in MEMBERS.items():
        fake.user(telegram_id, name, language_code="zh-hans")
    fake.user(OUTSIDER, "路人")
    fake.group(GROUP, "学习群")
    fake.block(BLOCKED, notify=False)
    fake.fail("sendMessage", status=429, retry_after=2, chat_id=SLOW)
    asyncio.run(_populate(module_database_url))
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)
    (home / "plan.yaml").write_text(plan_text(first_items(due)), encoding="utf-8")
    loaded = run_cli(
        ["plan", "load", "plan.yaml"],
        tmp_path=home,
        database_url=module_database_url,
        config=config,
    )
    assert loaded.returncode == 0, loaded.stderr
    bot = BotProcess(fake, tmp_path=home, database_url=module_database_url, config=config)
    bot.start()
    yield bot, due
    bot.terminate()


def eventually(check: Callable[[], object], timeout: float = TIMEOUT) -> None:
    """Wait until ``check()`` is truthy (the bot marks rows right after it sends)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout}s: {check()!r}")
        time.sleep(0.1)


def is_push(call: Call, title: str) -> bool:
    return call.ok and (call.params.get("text") or "").startswith(f"📖 <b>{title}</b>")


def pushes(fake: FakeBotAPI, title: str, since: int = 0) -> list[Call]:
    return [c for c in fake.calls("sendMessage", since=since) if is_push(c, title)]


def wait_pushes(fake: FakeBotAPI, title: str, n: int, since: int = 0) -> list[Call]:
    fake.wait_for_count(
        "sendMessage",
        n,
        since=since,
        timeout=TIMEOUT,
        predicate=lambda c: is_push(c, title),
    )
    return pushes(fake, title, since)


def test_push_reaches_its_audience_and_nobody_else(
    started: tuple[BotProcess, dt.datetime], fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    _bot, due = started
    everyone = set(OFFICE) | set(PRESS) | {SLOW, ADMIN}
    calls = wait_pushes(fake_bot, "全员学习 E2E", len(everyone))
    assert {c.chat_id for c in calls} == everyone
    assert {c.chat_id for c in wait_pushes(fake_bot, "办公室专题 E2E", 3)} == set(OFFICE) | {ADMIN}
    assert {c.chat_id for c in wait_pushes(fake_bot, "群组学习 E2E", 1)} == {GROUP}
    # not before its time, each chat once
    assert min(c.result["date"] for c in calls) >= int(due.timestamp())
    assert len(calls) == len(everyone)
    # buttons: Done, and the quiz offered after reading
    pushed = next(m for m in fake_bot.messages(5101) if "全员学习 E2E" in (m.get("text") or ""))
    assert [text for text, _data in fake_bot.buttons(pushed)] == ["已学习", "答题"]
    # the blocked member: one 403, marked unreachable, nobody else affected
    refused = [c for c in fake_bot.calls("sendMessage", chat_id=BLOCKED) if c.status == 403]
    assert len(refused) == 1
    eventually(
        lambda: (
            dbutil.scalar(
                module_database_url,
                "SELECT reachable FROM members WHERE telegram_id = :t",
                t=BLOCKED,
            )
            in (False, 0)
        )
    )

    def statuses() -> dict:
        return dict(
            dbutil.query(
                module_database_url,
                "SELECT d.chat_id, d.status FROM deliveries d "
                "JOIN plan_items p ON p.id = d.plan_item_id WHERE p.slug = 'e2e-all'",
            )
        )

    eventually(lambda: statuses().get(BLOCKED) == "unreachable")
    eventually(lambda: {statuses().get(c) for c in everyone} == {"sent"})
    # the 429 was waited out: the retry came at least retry_after later
    slow = fake_bot.calls("sendMessage", chat_id=SLOW)
    assert slow[0].status == 429
    retried = next(c for c in slow if c.ok)
    assert retried.time - slow[0].time >= 1.9
    assert OUTSIDER not in {c.chat_id for c in fake_bot.calls("sendMessage")}


def test_done_twice_gives_points_once(
    started: tuple[BotProcess, dt.datetime], fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    wait_pushes(fake_bot, "全员学习 E2E", 6)
    message = next(m for m in fake_bot.messages(5201) if "全员学习 E2E" in (m.get("text") or ""))
    mark = fake_bot.mark()
    fake_bot.press(5201, message, text="已学习")
    fake_bot.press(5201, message, text="已学习")
    answers = fake_bot.wait_for_count("answerCallbackQuery", 2, since=mark, timeout=TIMEOUT)
    texts = sorted(c.params.get("text", "") for c in answers)
    assert any("+1 积分" in t for t in texts), texts
    assert any("已经确认" in t for t in texts), texts
    assert (
        dbutil.scalar(
            module_database_url,
            "SELECT count(*) FROM points_ledger l JOIN members m ON m.id = l.member_id "
            "WHERE m.telegram_id = 5201 AND l.kind = 'material'",
        )
        == 1
    )
    assert (
        dbutil.scalar(
            module_database_url,
            "SELECT count(*) FROM material_reads r JOIN members m ON m.id = r.member_id "
            "WHERE m.telegram_id = 5201",
        )
        == 1
    )
    # /study shows it as read, the office item is not in a 宣传科 member's list
    listing = say(fake_bot, fake_bot.user(5201, "乙一"), "/study", timeout=TIMEOUT).params["text"]
    assert "✅" in listing and "全员学习 E2E" in listing
    assert "办公室专题 E2E" not in listing


def test_group_done_and_quiz_button(
    started: tuple[BotProcess, dt.datetime], fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    wait_pushes(fake_bot, "群组学习 E2E", 1)
    message = next(m for m in fake_bot.messages(GROUP) if "群组学习 E2E" in (m.get("text") or ""))
    mark = fake_bot.mark()
    fake_bot.press(5102, message, text="已学习")
    answer = fake_bot.wait_for("answerCallbackQuery", since=mark, timeout=TIMEOUT)
    assert "+1 积分" in answer.params.get("text", "")
    # the quiz offered after reading starts in private chat
    pushed = next(m for m in fake_bot.messages(5102) if "全员学习 E2E" in (m.get("text") or ""))
    mark = fake_bot.mark()
    fake_bot.press(5102, pushed, text="答题")
    question = fake_bot.wait_for("sendMessage", since=mark, chat_id=5102, timeout=TIMEOUT)
    assert "第 1/2 题" in question.params["text"]


def test_restart_after_the_push_does_not_resend(
    started: tuple[BotProcess, dt.datetime], fake_bot: FakeBotAPI
) -> None:
    bot, _due = started
    wait_pushes(fake_bot, "全员学习 E2E", 6)
    bot.restart(kill=True)
    mark = fake_bot.mark()
    fake_bot.assert_no_call(
        "sendMessage",
        since=mark,
        within=4,
        predicate=lambda c: (c.params.get("text") or "").startswith("📖"),
    )
    assert len(pushes(fake_bot, "全员学习 E2E")) == 6


def test_missed_while_down_within_and_beyond_grace(
    started: tuple[BotProcess, dt.datetime],
    fake_bot: FakeBotAPI,
    module_database_url: str,
    home: Path,
    config: dict,
) -> None:
    bot, _due = started
    bot.terminate()
    now = dt.datetime.now(dt.UTC)
    down_since = now - dt.timedelta(hours=1)
    items = textwrap.dedent(
        f"""\
        - {{id: e2e-late, title: 补发材料 E2E, body: 正文, when: "{local_iso(now - dt.timedelta(minutes=3))}"}}
        - {{id: e2e-too-late, title: 错过材料 E2E, body: 正文, when: "{local_iso(now - dt.timedelta(minutes=20))}"}}
        """
    )
    (home / "down.yaml").write_text(items, encoding="utf-8")
    loaded = run_cli(
        ["plan", "load", "down.yaml"],
        tmp_path=home,
        database_url=module_database_url,
        config=config,
    )
    assert loaded.returncode == 0, loaded.stderr
    # as if the bot had been down for an hour with this plan loaded before
    dbutil.execute(
        module_database_url,
        "UPDATE plan_items SET updated_at = :t WHERE slug IN ('e2e-late', 'e2e-too-late')",
        t=db_time(module_database_url, down_since),
    )
    dbutil.execute(
        module_database_url,
        "UPDATE claims SET claimed_at = :t WHERE key = 'materials:watermark'",
        t=db_time(module_database_url, down_since),
    )
    mark = fake_bot.mark()
    bot.start()
    calls = wait_pushes(fake_bot, "补发材料 E2E", 6, since=mark)
    assert len(calls) == 6
    assert pushes(fake_bot, "错过材料 E2E") == []

    def rows() -> list[tuple]:
        found = dbutil.query(
            module_database_url,
            "SELECT p.slug, d.status, count(*) FROM deliveries d "
            "JOIN plan_items p ON p.id = d.plan_item_id "
            "WHERE p.slug IN ('e2e-late', 'e2e-too-late') GROUP BY p.slug, d.status",
        )
        return sorted(tuple(r) for r in found)

    eventually(lambda: rows() == [("e2e-late", "sent", 6), ("e2e-too-late", "missed", 6)])
    assert "recorded as missed" in bot.log_text()


def test_session_check_in_by_button_and_link(
    started: tuple[BotProcess, dt.datetime], fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    admin = fake_bot.user(ADMIN, "管理员")
    opened = say(
        fake_bot, admin, "/session 学习贯彻会议精神 专题研讨 2h", chat=GROUP_CHAT, timeout=TIMEOUT
    )
    text = opened.params["text"]
    assert "专题研讨" in text and "学习贯彻会议精神" in text
    link = next(word for word in text.split() if "start=ci_" in word)
    code = link.split("start=ci_")[1]
    message = fake_bot.message(GROUP, opened.result["message_id"])
    assert message is not None

    def press(user_id: int) -> str:
        mark = fake_bot.mark()
        fake_bot.press(user_id, message, text="签到")
        return fake_bot.wait_for("answerCallbackQuery", since=mark, timeout=TIMEOUT).params.get(
            "text", ""
        )

    def follow_link(user_id: int) -> str:
        return say(
            fake_bot,
            fake_bot.user(user_id, MEMBERS.get(user_id)),
            f"/start ci_{code}",
            timeout=TIMEOUT,
        ).params["text"]

    assert "签到成功" in press(5101)
    assert "已经签到" in press(5101)
    assert "已经签到" in follow_link(5101)
    assert "签到成功" in follow_link(5202)
    assert "已经签到" in follow_link(5202)
    assert "注册" in follow_link(OUTSIDER)
    closed = say(fake_bot, admin, "/session close", chat=GROUP_CHAT, timeout=TIMEOUT).params["text"]
    assert "签到 2 人" in closed and "甲一" in closed and "乙二" in closed
    assert "签到已结束" in press(5102)
    assert "签到已结束" in follow_link(5201)
    assert (
        dbutil.scalar(
            module_database_url,
            "SELECT count(*) FROM session_checkins c JOIN study_sessions s ON s.id = c.session_id "
            "WHERE s.code = :code",
            code=code,
        )
        == 2
    )
    assert (
        dbutil.scalar(
            module_database_url, "SELECT count(*) FROM points_ledger WHERE kind = 'session'"
        )
        == 2
    )
    # opened in private (for a QR code on the screen): the link, and closing from private
    private = say(fake_bot, admin, "/session 消防知识讲座 讲座 1h", timeout=TIMEOUT).params["text"]
    assert "讲座：消防知识讲座" in private and "?start=ci_" in private
    private_code = private.split("start=ci_")[1].split()[0]
    joined = say(
        fake_bot, fake_bot.user(5201, "乙一"), f"/start ci_{private_code}", timeout=TIMEOUT
    ).params["text"]
    assert "签到成功" in joined and "消防知识讲座" in joined
    closed = say(fake_bot, admin, "/session close", timeout=TIMEOUT).params["text"]
    assert "签到 1 人" in closed and "乙一" in closed
    # staff cannot open sessions
    refused = say(fake_bot, fake_bot.user(5101, "甲一"), "/session 自己开会", timeout=TIMEOUT)
    assert "管理员" in refused.params["text"]


def test_plan_upload_and_remind(
    started: tuple[BotProcess, dt.datetime], fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    admin = fake_bot.user(ADMIN, "管理员")
    bad = plan_text(['{id: x, title: T, body: b, when: "61 9 * * *"}'])
    mark = fake_bot.mark()
    fake_bot.send_document(admin, "bad.yaml", bad.encode(), caption="/plan")
    answer = fake_bot.wait_for("sendMessage", since=mark, chat_id=ADMIN, timeout=TIMEOUT)
    assert "未导入" in answer.params["text"] and "bad.yaml line 2" in answer.params["text"]
    good = plan_text(['{id: e2e-weekly, title: 每周主题 E2E, body: b, when: "0 9 * * mon"}'])
    mark = fake_bot.mark()
    fake_bot.send_document(admin, "good.yaml", good.encode(), caption="/plan")
    answer = fake_bot.wait_for("sendMessage", since=mark, chat_id=ADMIN, timeout=TIMEOUT)
    assert "已导入" in answer.params["text"] and "每周主题 E2E" in answer.params["text"]
    assert (
        dbutil.scalar(
            module_database_url, "SELECT count(*) FROM plan_items WHERE active = :yes", yes=True
        )
        == 1
    )
    member = fake_bot.user(5102, "甲二")
    assert "已关闭" in say(fake_bot, member, "/remind off", timeout=TIMEOUT).params["text"]
    assert dbutil.scalar(
        module_database_url, "SELECT reminders FROM members WHERE telegram_id = 5102"
    ) in (False, 0)
    assert "已开启" in say(fake_bot, member, "/remind on", timeout=TIMEOUT).params["text"]
