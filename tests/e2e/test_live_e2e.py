"""End to end: live group quizzes over the fake Bot API with the real bot process.

One bot process serves the module; each test uses its own group so rounds do not meet.
Votes are injected one at a time and each is awaited in the database, so the answer order
(and with it the speed bonus) is the order the test chose.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.db.engine import create_engine, create_session_factory
from tests import dbutil, factories
from tests.e2e.harness import BotProcess
from tests.factories import q
from tests.fakebot import Call, FakeBotAPI, FakeChat, FakeUser

pytestmark = pytest.mark.e2e

ADMIN = 9101
MEMBERS = {
    "a": (7001, "张三", "办公室"),
    "b": (7002, "李四", "宣传科"),
    "c": (7003, "王五", "业务一科"),
}
PLAIN_MEMBER = 7004
STRANGER = 7099
ROUND_GROUP, RESTART_GROUP, LONG_GROUP, OTHER_GROUP = -1005001, -1005002, -1005003, -1005004
SECONDS = 30  # polls are closed early by the test (as if their period had ended)

TRIO = [
    q(
        "s1",
        "single",
        "国家秘密的密级分为几级？",
        ["B"],
        ["两级", "三级", "四级", "五级"],
        "三级。",
    ),
    q("j1", "judge", "国家宪法日是12月4日。", [True], (), "2014年设立。"),
    q(
        "m1",
        "multiple",
        "下列属于国家秘密密级的有？",
        ["A", "B", "D"],
        ["绝密", "机密", "内部", "秘密"],
    ),
    q("b1", "blank", "我国现行宪法于____年通过。", ["1982"]),
]
LONG_STEM = "根据《中华人民共和国保守国家秘密法》的规定，" * 20
LONG = [q("L1", "single", LONG_STEM, ["A"], ["正确的说法", "错误的说法"], "见保密法。")]

# per question type: (member, correct?) in answer order
PLAN = {
    "single": [("a", True), ("b", True), ("c", False)],
    "judge": [("c", True), ("a", False), ("b", True)],
    "multiple": [("b", True), ("c", True), ("a", True)],
}


def seed(database_url: str) -> None:
    async def work() -> None:
        engine = create_engine(database_url)
        db = create_session_factory(engine)
        async with db.begin() as session:
            for tid, name, dept in MEMBERS.values():
                await factories.member(session, name, dept=dept, telegram_id=tid)
            await factories.member(session, "赵六", dept="办公室", telegram_id=PLAIN_MEMBER)
            await factories.bank(session, "trio", "三题库", TRIO)
            await factories.bank(session, "long", "长题库", LONG)
        await engine.dispose()

    asyncio.run(work())


@pytest.fixture(scope="module")
def bot(
    fake_bot: FakeBotAPI, module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    seed(module_database_url)
    process = BotProcess(
        fake_bot,
        tmp_path=tmp_path_factory.mktemp("live-bot"),
        database_url=module_database_url,
        config={
            "departments": ["办公室", "宣传科", "业务一科"],
            "admins": [ADMIN],
            "groups": [ROUND_GROUP, RESTART_GROUP, LONG_GROUP, OTHER_GROUP],
        },
    )
    process.start()
    yield process
    process.terminate()


@pytest.fixture(scope="module")
def people(fake_bot: FakeBotAPI) -> dict[str, FakeUser]:
    users = {key: fake_bot.user(tid, name) for key, (tid, name, _d) in MEMBERS.items()}
    users["admin"] = fake_bot.user(ADMIN, "Admin")
    users["plain"] = fake_bot.user(PLAIN_MEMBER, "Zhao")
    users["stranger"] = fake_bot.user(STRANGER, "Stranger")
    return users


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def as_list(value: Any) -> list[Any]:
    return json.loads(value) if isinstance(value, str) else list(value)


def live_question(url: str, poll_id: str) -> dict[str, Any]:
    """The question behind a poll, once the bot has recorded the poll it sent."""
    rows = wait_until(
        lambda: dbutil.query(
            url,
            "SELECT id, poll_type, option_map, correct_option_ids FROM live_questions "
            "WHERE poll_id = :p",
            p=poll_id,
        ),
        what=f"poll {poll_id} to be recorded",
    )
    qid, poll_type, option_map, correct = rows[0]
    options = as_list(option_map)
    kind = (
        "multiple" if poll_type == "regular" else "judge" if options == [True, False] else "single"
    )
    return {"id": qid, "kind": kind, "correct": as_list(correct), "n": len(options)}


def answers_of(url: str, question_id: int) -> int:
    return int(
        dbutil.scalar(
            url, "SELECT count(*) FROM answers WHERE live_question_id = :q", q=question_id
        )
    )


def command(fake: FakeBotAPI, user: FakeUser, group: FakeChat, text: str) -> int:
    mark = fake.mark()
    fake.send_text(user, text, chat=group)
    return mark


def reply_in(fake: FakeBotAPI, group: FakeChat, since: int) -> str:
    return str(
        fake.wait_for("sendMessage", since=since, chat_id=group.id, timeout=20).params["text"]
    )


def poll_id_of(call: Call) -> str:
    return str(call.result["poll"]["id"])


def answer_question(
    fake: FakeBotAPI, url: str, people: dict[str, FakeUser], call: Call
) -> dict[str, Any]:
    """Vote as PLAN says for this poll's question type, each vote awaited in the database."""
    poll_id = poll_id_of(call)
    question = live_question(url, poll_id)
    correct = question["correct"]
    wrong = (
        correct[:-1]
        if question["kind"] == "multiple"
        else [next(i for i in range(question["n"]) if i not in correct)]
    )
    for done, (who, right) in enumerate(PLAN[question["kind"]], start=1):
        fake.answer_poll(people[who], poll_id, correct if right else wrong)
        wait_until(lambda n=done: answers_of(url, question["id"]) == n, what=f"answer {done}")
    return question


def ledger(url: str) -> dict[int, int]:
    rows = dbutil.query(
        url,
        "SELECT m.telegram_id, l.delta FROM points_ledger l JOIN members m ON m.id = l.member_id "
        "WHERE l.kind = 'live_quiz'",
    )
    out: dict[int, int] = {}
    for tid, delta in rows:
        out[tid] = out.get(tid, 0) + delta
    return out


def test_non_admins_are_refused_and_bad_arguments_explained(
    bot: BotProcess, fake_bot: FakeBotAPI, people: dict[str, FakeUser], module_database_url: str
) -> None:
    group = fake_bot.group(OTHER_GROUP, "其他群")
    mark = command(fake_bot, people["plain"], group, "/livequiz trio 3 20")
    assert "只有管理员和领导" in reply_in(fake_bot, group, mark)
    mark = command(fake_bot, people["stranger"], group, "/stopquiz")
    assert "只有管理员和领导" in reply_in(fake_bot, group, mark)
    mark = command(fake_bot, people["admin"], group, "/livequiz trio 3 4")
    assert "每题秒数须为 5 到 600" in reply_in(fake_bot, group, mark)
    mark = command(fake_bot, people["admin"], group, "/livequiz nosuchbank")
    assert "没有名为 nosuchbank 的题库" in reply_in(fake_bot, group, mark)
    mark = fake_bot.mark()
    fake_bot.send_text(people["admin"], "/livequiz trio")
    assert "群组" in fake_bot.wait_for("sendMessage", since=mark, chat_id=ADMIN).params["text"]
    assert dbutil.scalar(module_database_url, "SELECT count(*) FROM live_rounds") == 0
    fake_bot.assert_no_call("sendPoll", since=mark, within=0.5)


def test_three_questions_three_members_exact_points_and_ranking(
    bot: BotProcess, fake_bot: FakeBotAPI, people: dict[str, FakeUser], module_database_url: str
) -> None:
    url = module_database_url
    group = fake_bot.group(ROUND_GROUP, "学习群")
    start = command(fake_bot, people["admin"], group, f"/livequiz trio 3 {SECONDS}")
    announcement = reply_in(fake_bot, group, start)
    assert "现场答题：三题库，共 3 题，每题 30 秒" in announcement

    # a second round in the same group is refused while this one runs
    mark = command(fake_bot, people["admin"], group, "/livequiz trio")
    assert "已有一轮现场答题正在进行" in reply_in(fake_bot, group, mark)

    kinds = []
    for number in range(1, 4):
        call = fake_bot.wait_for_count(
            "sendPoll", number, since=start, chat_id=group.id, timeout=30
        )[-1]
        params = call.params
        assert params["is_anonymous"] is False and params["open_period"] == SECONDS
        assert params["question"].startswith(f"【第{number}/3题·")
        question = answer_question(fake_bot, url, people, call)
        kinds.append(question["kind"])
        if question["kind"] == "multiple":
            assert params.get("type", "regular") == "regular"
            assert params["allows_multiple_answers"] is True and params["allows_revoting"] is False
        else:
            assert params["type"] == "quiz" and params["correct_option_ids"] == question["correct"]
        if number == 1:  # someone who never registered votes: told once, in private
            fake_bot.answer_poll(people["stranger"], poll_id_of(call), [0])
            prompt = fake_bot.wait_for("sendMessage", since=start, chat_id=STRANGER)
            assert "/start" in prompt.params["text"]
        if number == 2:
            fake_bot.answer_poll(people["stranger"], poll_id_of(call), [0])
        fake_bot.close_poll(poll_id_of(call))  # the poll's period is over
    assert sorted(kinds) == ["judge", "multiple", "single"]

    result = fake_bot.wait_for(
        "sendMessage", since=start, chat_id=group.id, text_contains="🏁", timeout=30
    ).params["text"]
    lines = result.splitlines()
    assert lines[0] == "🏁 现场答题结束：三题库（共 3 题）"
    assert lines[2:5] == [
        "🥇1. 李四（宣传科） — 答对 3 题，13 分",
        "🥈2. 王五（业务一科） — 答对 2 题，9 分",
        "🥉3. 张三（办公室） — 答对 2 题，8 分",
    ]
    assert ledger(url) == {7002: 13, 7003: 9, 7001: 8}
    assert len(fake_bot.calls("sendPoll", since=start, chat_id=group.id)) == 3
    assert len(fake_bot.calls("sendMessage", since=start, chat_id=STRANGER)) == 1
    reveal = fake_bot.calls("sendMessage", since=start, chat_id=group.id)
    assert any("正确答案：绝密; 机密; 秘密" in c.params["text"] for c in reveal)
    assert (
        dbutil.scalar(
            url,
            "SELECT count(*) FROM answers a JOIN members m ON m.id = a.member_id "
            "WHERE m.telegram_id = :t",
            t=STRANGER,
        )
        == 0
    )


def test_a_restart_between_questions_neither_repeats_nor_loses_one(
    bot: BotProcess, fake_bot: FakeBotAPI, people: dict[str, FakeUser], module_database_url: str
) -> None:
    url = module_database_url
    group = fake_bot.group(RESTART_GROUP, "重启群")
    before = ledger(url)
    start = command(fake_bot, people["admin"], group, f"/livequiz trio 2 {SECONDS}")
    first = fake_bot.wait_for("sendPoll", since=start, chat_id=group.id, timeout=30)
    answer_question(fake_bot, url, people, first)
    bot.kill()  # SIGKILL while question 1 is open
    fake_bot.close_poll(poll_id_of(first))  # its period ends while the bot is down
    bot.start()
    second = fake_bot.wait_for_count("sendPoll", 2, since=start, chat_id=group.id, timeout=40)[-1]
    assert second.params["question"].startswith("【第2/2题·")
    assert second.params["question"] != first.params["question"]
    answer_question(fake_bot, url, people, second)
    fake_bot.close_poll(poll_id_of(second))
    result = fake_bot.wait_for(
        "sendMessage", since=start, chat_id=group.id, text_contains="🏁", timeout=30
    ).params["text"]
    assert result.startswith("🏁 现场答题结束：三题库（共 2 题）")
    assert len(fake_bot.calls("sendPoll", since=start, chat_id=group.id)) == 2
    stops = [c.params["message_id"] for c in fake_bot.calls("stopPoll", since=start)]
    assert first.result["message_id"] in stops
    gained = {tid: pts - before.get(tid, 0) for tid, pts in ledger(url).items()}
    rows = dbutil.query(
        url,
        "SELECT m.telegram_id, sum(a.points) FROM answers a JOIN members m ON m.id = a.member_id "
        "JOIN live_questions q ON q.id = a.live_question_id JOIN live_rounds r ON r.id = q.round_id "
        "WHERE r.chat_id = :c GROUP BY m.telegram_id",
        c=group.id,
    )
    assert gained == {tid: int(points) for tid, points in rows if int(points) > 0}
    assert len(dbutil.query(url, "SELECT id FROM live_rounds WHERE chat_id = :c", c=group.id)) == 1


def test_a_long_question_goes_as_message_plus_short_poll_and_stopquiz_ends_it(
    bot: BotProcess, fake_bot: FakeBotAPI, people: dict[str, FakeUser], module_database_url: str
) -> None:
    group = fake_bot.group(LONG_GROUP, "长题群")
    start = command(fake_bot, people["admin"], group, f"/livequiz long 1 {SECONDS}")
    poll = fake_bot.wait_for("sendPoll", since=start, chat_id=group.id, timeout=30)
    intro = fake_bot.wait_for("sendMessage", since=start, chat_id=group.id, text_contains=LONG_STEM)
    assert intro.index < poll.index
    assert "A. 正确的说法" in intro.params["text"]
    assert poll.params["question"] == "【第1/1题·单选】题目见上条消息"
    assert [o["text"] for o in poll.params["options"]] == ["A", "B"]
    assert poll.result["reply_to_message"]["message_id"] == intro.result["message_id"]
    fake_bot.answer_poll(people["a"], poll_id_of(poll), [0])
    question = live_question(module_database_url, poll_id_of(poll))
    wait_until(lambda: answers_of(module_database_url, question["id"]) == 1, what="the answer")
    mark = command(fake_bot, people["admin"], group, "/stopquiz")
    result = fake_bot.wait_for(
        "sendMessage", since=mark, chat_id=group.id, text_contains="🏁", timeout=20
    ).params["text"]
    assert "🥇1. 张三（办公室） — 答对 1 题，5 分" in result
    fake_bot.wait_for("stopPoll", since=mark, chat_id=group.id)
    mark = command(fake_bot, people["admin"], group, "/stopquiz")
    assert "没有进行中的现场答题" in reply_in(fake_bot, group, mark)
