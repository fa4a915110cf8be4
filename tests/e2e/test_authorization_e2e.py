"""End to end: every admin and leader command, and every upload, tried by people without the
role — staff, people who never registered, leaders for admin-only commands — is refused,
logged with the user, and changes nothing; a foreign group is left; no command shows one
member another member's answers or reflections.

The commands come from the running application's own handlers: a command registered but
classified neither here nor as a staff command fails the test, so a new command cannot
slip in without deciding who may use it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from telegram.ext import CommandHandler

from bot.config import Config
from bot.db.engine import create_engine, create_session_factory
from tests import dbutil, factories
from tests.e2e.harness import BotProcess
from tests.factories import q
from tests.fakebot import FakeBotAPI, FakeChat, FakeUser

pytestmark = pytest.mark.e2e

ADMIN, STAFF, LEADER, ALICE, BOB, STRANGER = 9400, 9401, 9402, 9403, 9404, 9499
GROUP, FOREIGN = -1009400, -1009499
MARKER = "甲乙丙丁机密答案"
REFLECTION = "学习心得：" + MARKER + "。" + "认真学习党的理论，联系工作实际，提高政治站位。" * 6

# command -> (role needed, where it is used, the text sent)
PRIVILEGED: dict[str, tuple[str, str, str]] = {
    "grant": ("admin", "private", "/grant @staffer admin"),
    "revoke": ("admin", "private", "/revoke @leaderx leader"),
    "adjust": ("admin", "private", "/adjust @staffer 100 作弊"),
    "banks": ("admin", "private", "/banks"),
    "session": ("admin", "private", "/session 集中学习"),
    "discuss": ("admin", "group", "/discuss 学习讨论话题 24"),
    "notes": ("admin", "private", "/notes export"),
    "livequiz": ("leader", "group", "/livequiz blanks 2 30"),
    "stopquiz": ("leader", "group", "/stopquiz"),
    "summary": ("leader", "private", "/summary"),
    "report": ("leader", "private", "/report"),
}
# Open to every member (or anyone): checked for leaks of other members' data below.
STAFF_COMMANDS = {
    "start", "help", "quiz", "weekly", "special", "challenge", "review", "study", "me",
    "leaderboard", "note", "notes", "remind",
}  # fmt: skip
UPLOADS = [
    ("bank.yaml", "", b"bank: hacked\ntitle: x\nquestions:\n  - {id: q1, type: judge, text: t, answer: true}\n"),
    ("roster.csv", "/roster", "name,department\n冒名,办公室\n".encode()),
    ("plan.yaml", "/plan", b"items:\n  - {id: x, title: x, body: x, when: '2030-01-01T08:00:00'}\n"),
]  # fmt: skip
BLANKS = [q(f"b{i}", "blank", f"第{i}个填空题：____。", [f"答案{i}"]) for i in range(1, 7)]
# Tables whose rows a refused command must leave exactly as they were.
WATCHED = (
    "members", "member_roles", "points_ledger", "banks", "questions", "live_rounds",
    "study_sessions", "discussions", "plan_items", "reflections", "deliveries", "claims",
)  # fmt: skip


def registered_commands() -> set[str]:
    from bot.telegram.app import build_application

    config = Config.model_validate({"telegram": {"token": "123456:TEST-TOKEN"}})
    app = build_application(config, None)  # type: ignore[arg-type]
    return {
        name
        for handlers in app.handlers.values()
        for handler in handlers
        if isinstance(handler, CommandHandler)
        for name in handler.commands
    }


async def _seed(url: str) -> None:
    engine = create_engine(url)
    db = create_session_factory(engine)
    async with db.begin() as session:
        await factories.member(session, "员工甲", telegram_id=STAFF, username="staffer")
        leader = await factories.member(session, "领导乙", telegram_id=LEADER, username="leaderx")
        await factories.member(session, "爱丽丝", telegram_id=ALICE)
        await factories.member(session, "鲍勃", telegram_id=BOB)
        from bot.db.models import MemberRole

        session.add(MemberRole(member_id=leader.id, role="leader"))
        await factories.bank(session, "blanks", "填空题库", BLANKS)
    await engine.dispose()


@pytest.fixture(scope="module")
def bot(fake_bot: FakeBotAPI, module_database_url: str, tmp_path_factory) -> Iterator[BotProcess]:
    asyncio.run(_seed(module_database_url))
    process = BotProcess(
        fake_bot,
        tmp_path=tmp_path_factory.mktemp("authz"),
        database_url=module_database_url,
        config={"departments": ["办公室"], "admins": [ADMIN], "groups": [GROUP]},
    )
    process.start()
    yield process
    process.terminate()


@pytest.fixture(scope="module")
def people(fake_bot: FakeBotAPI) -> dict[str, FakeUser]:
    return {
        "admin": fake_bot.user(ADMIN, "Admin"),
        "staff": fake_bot.user(STAFF, "Staff"),
        "leader": fake_bot.user(LEADER, "Leader"),
        "alice": fake_bot.user(ALICE, "Alice"),
        "bob": fake_bot.user(BOB, "Bob"),
        "stranger": fake_bot.user(STRANGER, "Stranger"),
    }


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in WATCHED:
        rows = dbutil.query(url, f'SELECT * FROM "{table}"')
        out[table] = sorted((tuple(map(str, r)) for r in rows), key=str)
    return out


def refusal_logged(bot: BotProcess, user_id: int, after: int, timeout: float = 10) -> str:
    """The refusal log line for ``user_id`` written after byte ``after`` of the log."""
    deadline = time.monotonic() + timeout
    pattern = re.compile(rf"refused .*user={user_id}\b")
    while True:
        tail = bot.log_text()[after:]
        found = [ln for ln in tail.splitlines() if pattern.search(ln)]
        if found:
            return found[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no refusal logged for user {user_id}; log tail:\n{tail[-2000:]}")
        time.sleep(0.05)


def test_every_command_is_classified() -> None:
    commands = registered_commands()
    unclassified = commands - set(PRIVILEGED) - STAFF_COMMANDS
    assert not unclassified, f"decide who may use: {sorted(unclassified)}"
    assert set(PRIVILEGED) <= commands, sorted(set(PRIVILEGED) - commands)


def attempts() -> list[tuple[str, str, str, str]]:
    """(who, command, where, text) for every refusal to try, over the registered commands."""
    commands = registered_commands()
    out = []
    for name, (role, where, text) in PRIVILEGED.items():
        if name not in commands:
            continue
        for who in ("staff", "stranger") + (("leader",) if role == "admin" else ()):
            out.append((who, name, where, text))
    return out


def test_privileged_commands_are_refused_logged_and_change_nothing(
    bot: BotProcess, fake_bot: FakeBotAPI, people: dict[str, FakeUser], module_database_url: str
) -> None:
    url = module_database_url
    group = fake_bot.group(GROUP, "授权测试群")
    for user in people.values():  # first interaction of the day: the check-in, done now
        fake_bot.send_text(user, "/help")
    bot.wait_handled(timeout=30)
    time.sleep(0.5)
    start = fake_bot.mark()
    before = snapshot(url)
    tried = attempts()
    assert len(tried) >= 25
    for who, _name, where, text in tried:
        user = people[who]
        chat: FakeChat | None = group if where == "group" else None
        chat_id = GROUP if chat else user.id
        log_size = len(bot.log_text())
        mark = fake_bot.mark()
        fake_bot.send_text(user, text, chat=chat)
        answer = fake_bot.wait_for("sendMessage", since=mark, chat_id=chat_id, timeout=20).text
        assert answer and "Traceback" not in answer
        refusal_logged(bot, user.id, log_size)
        assert snapshot(url) == before, f"{who} {text!r} changed the database"
    for who in ("staff", "stranger", "leader"):
        user = people[who]
        for filename, caption, content in UPLOADS:
            log_size = len(bot.log_text())
            mark = fake_bot.mark()
            fake_bot.send_document(user, filename, content, caption=caption or None)
            fake_bot.wait_for("sendMessage", since=mark, chat_id=user.id, timeout=20)
            refusal_logged(bot, user.id, log_size)
            assert not fake_bot.calls("getFile", since=mark), "a refused upload was downloaded"
    assert snapshot(url) == before
    # Nothing privileged happened anywhere: no poll, no file, no report.
    for method in ("sendPoll", "sendDocument", "sendPhoto"):
        assert not fake_bot.calls(method, since=start), method


def test_allowed_roles_still_work(
    bot: BotProcess, fake_bot: FakeBotAPI, people: dict[str, FakeUser], module_database_url: str
) -> None:
    mark = fake_bot.mark()
    fake_bot.send_text(people["leader"], "/summary")
    fake_bot.wait_for("sendDocument", since=mark, chat_id=LEADER, timeout=60)
    mark = fake_bot.mark()
    fake_bot.send_text(people["admin"], "/banks")
    assert "填空题库" in (fake_bot.wait_for("sendMessage", since=mark, chat_id=ADMIN).text or "")


def test_a_group_not_configured_is_left_even_by_an_admin_command(
    bot: BotProcess, fake_bot: FakeBotAPI, people: dict[str, FakeUser], module_database_url: str
) -> None:
    foreign = fake_bot.group(FOREIGN, "别人的群")
    mark = fake_bot.mark()
    fake_bot.send_text(people["admin"], "/livequiz blanks 2 30", chat=foreign)
    left = fake_bot.wait_for("leaveChat", since=mark, timeout=20)
    assert int(left.params["chat_id"]) == FOREIGN
    fake_bot.assert_no_call("sendMessage", since=mark, chat_id=FOREIGN, within=0.5)
    fake_bot.assert_no_call("sendPoll", since=mark, within=0.1)
    assert dbutil.scalar(module_database_url, "SELECT count(*) FROM live_rounds") == 0


def test_no_command_shows_another_members_answers(
    bot: BotProcess, fake_bot: FakeBotAPI, people: dict[str, FakeUser], module_database_url: str
) -> None:
    url = module_database_url
    alice, bob = people["alice"], people["bob"]
    # Alice answers every blank of her daily quiz with the marker, and writes a reflection.
    mark = fake_bot.mark()
    fake_bot.send_text(alice, "/quiz")
    for number in range(1, 6):
        fake_bot.wait_for(
            "sendMessage",
            since=mark,
            chat_id=ALICE,
            predicate=lambda c, n=number: f"第 {n}/5 题" in (c.text or ""),
            timeout=20,
        )
        mark = fake_bot.mark()
        fake_bot.send_text(alice, f"{MARKER}{number}")
    fake_bot.wait_for("sendMessage", since=mark, chat_id=ALICE, text_contains="答对", timeout=20)
    mark = fake_bot.mark()
    fake_bot.send_text(alice, f"/note {REFLECTION}")
    fake_bot.wait_for("sendMessage", since=mark, chat_id=ALICE, text_contains="已保存", timeout=20)
    assert dbutil.scalar(url, "SELECT count(*) FROM reflections") == 1
    assert (
        dbutil.scalar(
            url,
            "SELECT count(*) FROM answers a JOIN members m ON m.id = a.member_id "
            "WHERE m.telegram_id = :t",
            t=ALICE,
        )
        == 5
    )
    given = " ".join(
        json.dumps(json.loads(r[0]) if isinstance(r[0], str) else r[0], ensure_ascii=False)
        for r in dbutil.query(url, "SELECT given FROM answers")
    )
    assert MARKER in given  # the answers are stored: there is something that could leak
    # Bob (and a stranger) try every command open to them, with and without arguments.
    start = fake_bot.mark()
    for user in (bob, people["stranger"]):
        for name in sorted(STAFF_COMMANDS - {"start"}):
            for text in (f"/{name}", f"/{name} 爱丽丝", f"/{name} {ALICE}"):
                mark = fake_bot.mark()
                fake_bot.send_text(user, text)
                fake_bot.wait_for("sendMessage", since=mark, chat_id=user.id, timeout=20)
        bot.wait_handled(timeout=30)
    shown = [
        (c.text or "") + str(c.params.get("reply_markup", ""))
        for c in fake_bot.calls(since=start)
        if c.chat_id in (BOB, STRANGER)
    ]
    leaks = [s for s in shown if MARKER in s or "联系工作实际" in s]
    assert not leaks, leaks[:3]
    documents = [
        c for c in fake_bot.calls("sendDocument", since=start) if c.chat_id in (BOB, STRANGER)
    ]
    for call in documents:
        _name, content = fake_bot.sent_document(call)
        assert MARKER.encode() not in content
