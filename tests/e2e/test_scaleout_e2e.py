"""End to end, scaled out: two ``studybot run`` replicas in webhook mode on one PostgreSQL
database, the fake Bot API spreading updates over both (``webhook_targets``, round robin).

- updates reach both replicas, and registration and roles work whichever gets the update;
- every scheduled push is sent once, although both replicas' schedulers tick every second;
- a live round started on one replica is scored exactly, whichever replica receives the votes
  and the closed polls;
- a replica going down (SIGTERM) loses nothing: Telegram's retry lands on the other one.

SQLite is skipped: it is the single-process embedded setup by design (one writer, one file).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.db.engine import create_engine, create_session_factory
from tests import dbutil, factories
from tests.e2e.chat import free_port, register, say
from tests.e2e.harness import BotProcess, run_cli
from tests.factories import q
from tests.fakebot import Call, FakeBotAPI, FakeUser
from tests.invariants import assert_invariants

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        dbutil.pg_server_url() is None,
        reason="scale-out needs PostgreSQL (set STUDYBOT_TEST_DATABASE_URL); SQLite is "
        "single-process by design",
    ),
]

TZ = ZoneInfo("Asia/Shanghai")
ADMIN = 9301
GROUP = -1009301
SECRET = "scale-out-secret"
SEEDED = {
    "a": (9311, "张甲", "办公室"),
    "b": (9312, "李乙", "宣传科"),
    "c": (9313, "王丙", "办公室"),
}
TRIO = [
    q("s1", "single", "国家秘密的密级分为几级？", ["B"], ["两级", "三级", "四级", "五级"]),
    q("j1", "judge", "国家宪法日是12月4日。", [True]),
    q(
        "m1",
        "multiple",
        "下列属于国家秘密密级的有？",
        ["A", "B", "D"],
        ["绝密", "机密", "内部", "秘密"],
    ),
]
# Live round: per question type, (member, correct?) in answer order. With 2 points per
# correct answer and +3/+2/+1 for the three fastest correct ones: b 13, c 9, a 8.
PLAN = {
    "single": [("a", True), ("b", True), ("c", False)],
    "judge": [("c", True), ("a", False), ("b", True)],
    "multiple": [("b", True), ("c", True), ("a", True)],
}
EXPECTED_LIVE = {9312: 13, 9313: 9, 9311: 8}
PUSH_ALL, PUSH_GROUP = "全员学习 扩容", "群组学习 扩容"


def wait_until(check: Callable[[], Any], timeout: float = 40, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


async def _seed(url: str) -> None:
    engine = create_engine(url)
    db = create_session_factory(engine)
    async with db.begin() as session:
        for tid, name, dept in SEEDED.values():
            await factories.member(session, name, dept=dept, telegram_id=tid)
        await factories.bank(session, "trio", "三题库", TRIO)
    await engine.dispose()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(webhook_concurrency=4) as server:
        yield server


@pytest.fixture(scope="module")
def replicas(
    fake: FakeBotAPI, module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[BotProcess]]:
    home = tmp_path_factory.mktemp("scaleout")
    asyncio.run(_seed(module_database_url))
    for tid, name, _dept in SEEDED.values():
        fake.user(tid, name)
    fake.user(ADMIN, "Admin")
    fake.group(GROUP, "扩容学习群")
    base: dict[str, Any] = {
        "departments": ["办公室", "宣传科"],
        "admins": [ADMIN],
        "groups": [GROUP],
        "study_plan": "plan.yaml",
        "schedule": {
            "tick_seconds": 1,
            "misfire_grace": 600,
            "reminder_time": (dt.datetime.now(TZ) + dt.timedelta(hours=12)).strftime("%H:%M"),
        },
    }
    # Due a few seconds after both replicas are up (a push within misfire_grace is caught up
    # on start-up anyway, so a slow start only makes it early, never lost).
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=8)
    when = due.astimezone(TZ).strftime("%Y-%m-%dT%H:%M:%S")
    (home / "plan.yaml").write_text(
        "items:\n"
        f'  - {{id: scale-all, title: "{PUSH_ALL}", body: 正文, when: "{when}"}}\n'
        f'  - {{id: scale-group, title: "{PUSH_GROUP}", body: 正文, when: "{when}", '
        f"audience: [{GROUP}]}}\n",
        encoding="utf-8",
    )
    loaded = run_cli(
        ["plan", "load", "plan.yaml"], tmp_path=home, database_url=module_database_url, config=base
    )
    assert loaded.returncode == 0, loaded.stderr
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}/telegram" for p in ports]
    fake.webhook_targets = urls
    processes = []
    for number, (port, url) in enumerate(zip(ports, urls, strict=True), start=1):
        config = {
            **base,
            "telegram": {
                "webhook": {"url": url, "listen": "127.0.0.1", "port": port, "secret_token": SECRET}
            },
        }
        processes.append(
            BotProcess(
                fake,
                tmp_path=home,
                database_url=module_database_url,
                config=config,
                name=f"replica{number}",
            )
        )
    mark = fake.mark()
    for process in processes:
        process.start(wait_ready=False)
    fake.wait_for_count(
        "setWebhook", 2, since=mark, timeout=60, predicate=lambda c: c.status is None or c.ok
    )
    assert all(p.running for p in processes), [p.log_tail() for p in processes]
    yield processes
    for process in processes:
        process.terminate()


def handled(process: BotProcess) -> set[int]:
    """Update ids this replica processed (its structured update log lines)."""
    return {
        int(m.group(1))
        for m in re.finditer(r"update=(\d+) kind=\S+ user=.* status=ok", process.log_text())
    }


def test_updates_spread_over_both_replicas_and_roles_work_on_either(
    replicas: list[BotProcess], fake: FakeBotAPI, module_database_url: str
) -> None:
    users = [fake.user(9320 + i, f"U{i}") for i in range(4)]
    for i, user in enumerate(users):
        assert "注册成功" in register(fake, user, f"扩容{i}", "办公室" if i % 2 else "宣传科")
    admin = fake.user(ADMIN, "Admin")
    assert "领导" in say(fake, admin, "/grant 扩容1 leader").params["text"]
    # The new role is seen by both replicas: ask often enough that both answer.
    for _ in range(4):
        assert "/summary" in say(fake, users[1], "/help").params["text"]
        assert "/summary" not in say(fake, users[2], "/help").params["text"]
    first, second = (handled(p) for p in replicas)
    assert first and second, "one replica received no update"
    assert len(first & second) <= 1  # a redelivery at most, never two effects
    delivered = {uid for uid, _url, outcome in fake.webhook_deliveries if outcome == 200}
    assert delivered <= first | second
    for user in users:
        assert (
            dbutil.scalar(
                module_database_url,
                "SELECT count(*) FROM members WHERE telegram_id = :t",
                t=user.id,
            )
            == 1
        )
    assert (
        dbutil.scalar(
            module_database_url,
            "SELECT count(*) FROM member_roles r JOIN members m ON m.id = r.member_id "
            "WHERE m.name = '扩容1' AND r.role = 'leader'",
        )
        == 1
    )


def is_push(call: Call, title: str) -> bool:
    return call.ok and (call.params.get("text") or "").startswith(f"📖 <b>{title}</b>")


def test_each_scheduled_push_is_sent_once_across_replicas(
    replicas: list[BotProcess], fake: FakeBotAPI, module_database_url: str
) -> None:
    seeded = {tid for tid, _n, _d in SEEDED.values()}
    wait_until(
        lambda: seeded <= {c.chat_id for c in fake.calls("sendMessage") if is_push(c, PUSH_ALL)},
        what="the push to every seeded member",
    )
    wait_until(
        lambda: any(is_push(c, PUSH_GROUP) for c in fake.calls("sendMessage", chat_id=GROUP)),
        what="the group push",
    )
    # Both schedulers keep ticking every second: give them time to send anything twice.
    time.sleep(3)
    for title in (PUSH_ALL, PUSH_GROUP):
        chats = [c.chat_id for c in fake.calls("sendMessage") if is_push(c, title)]
        assert len(chats) == len(set(chats)), f"{title}: sent twice to {chats}"
    sent = dbutil.query(
        module_database_url,
        "SELECT p.slug, d.chat_id, count(*) FROM deliveries d "
        "JOIN plan_items p ON p.id = d.plan_item_id GROUP BY p.slug, d.chat_id",
    )
    assert sent and all(int(n) == 1 for _slug, _chat, n in sent)
    group_rows = [row for row in sent if row[0] == "scale-group"]
    assert [int(r[1]) for r in group_rows] == [GROUP]


def _as_list(value: Any) -> list[Any]:
    return json.loads(value) if isinstance(value, str) else list(value)


def _question(url: str, poll_id: str) -> dict[str, Any]:
    rows = wait_until(
        lambda: dbutil.query(
            url,
            "SELECT id, poll_type, option_map, correct_option_ids FROM live_questions "
            "WHERE poll_id = :p",
            p=poll_id,
        ),
        what=f"poll {poll_id} recorded",
    )
    qid, poll_type, option_map, correct = rows[0]
    options = _as_list(option_map)
    kind = (
        "multiple" if poll_type == "regular" else "judge" if options == [True, False] else "single"
    )
    return {"id": qid, "kind": kind, "correct": _as_list(correct), "n": len(options)}


def test_live_round_is_scored_exactly_whichever_replica_gets_the_votes(
    replicas: list[BotProcess], fake: FakeBotAPI, module_database_url: str
) -> None:
    url = module_database_url
    people: dict[str, FakeUser] = {k: fake.user(tid, n) for k, (tid, n, _d) in SEEDED.items()}
    admin = fake.user(ADMIN, "Admin")
    group = fake.group(GROUP, "扩容学习群")
    before = {r[0] for r in dbutil.query(url, "SELECT id FROM live_rounds")}
    start = fake.mark()
    fake.send_text(admin, "/livequiz trio 3 30", chat=group)
    for number in range(1, 4):
        call = fake.wait_for_count("sendPoll", number, since=start, chat_id=GROUP, timeout=40)[-1]
        poll_id = str(call.result["poll"]["id"])
        question = _question(url, poll_id)
        correct = question["correct"]
        wrong = (
            correct[:-1]
            if question["kind"] == "multiple"
            else [next(i for i in range(question["n"]) if i not in correct)]
        )
        for done, (who, right) in enumerate(PLAN[question["kind"]], start=1):
            fake.answer_poll(people[who], poll_id, correct if right else wrong)
            wait_until(
                lambda n=done, qid=question["id"]: (
                    dbutil.scalar(
                        url, "SELECT count(*) FROM answers WHERE live_question_id = :q", q=qid
                    )
                    == n
                ),
                what=f"vote {done} recorded",
            )
        fake.close_poll(poll_id)
    result = fake.wait_for(
        "sendMessage", since=start, chat_id=GROUP, text_contains="🏁", timeout=40
    ).params["text"]
    assert "李乙" in result.splitlines()[2]
    time.sleep(2)  # both replicas tick: nothing may be sent or awarded twice
    assert len(fake.calls("sendPoll", since=start, chat_id=GROUP)) == 3
    finals = [
        c for c in fake.calls("sendMessage", since=start, chat_id=GROUP) if "🏁" in (c.text or "")
    ]
    assert len(finals) == 1
    rounds = [r[0] for r in dbutil.query(url, "SELECT id FROM live_rounds") if r[0] not in before]
    assert len(rounds) == 1
    live = dict(
        dbutil.query(
            url,
            "SELECT m.telegram_id, sum(l.delta) FROM points_ledger l "
            "JOIN members m ON m.id = l.member_id WHERE l.kind = 'live_quiz' "
            "AND l.reference = :ref GROUP BY m.telegram_id",
            ref=f"round:{rounds[0]}",
        )
    )
    assert {int(k): int(v) for k, v in live.items()} == EXPECTED_LIVE
    votes = [
        u["update_id"]
        for u in fake.updates
        if "poll_answer" in u and u["poll_answer"]["user"]["id"] in EXPECTED_LIVE
    ]
    first, second = (handled(p) for p in replicas)
    assert set(votes) & first and set(votes) & second, "the votes all went to one replica"


def test_a_replica_going_down_loses_no_update(
    replicas: list[BotProcess], fake: FakeBotAPI, module_database_url: str
) -> None:
    down, _up = replicas
    assert down.terminate() == 0
    seen = len(fake.webhook_deliveries)
    users = [fake.user(9340 + i, f"D{i}") for i in range(3)]
    for i, user in enumerate(users):
        assert "注册成功" in register(fake, user, f"单副本{i}", "办公室")
    targets = fake.webhook_targets or []
    attempts = fake.webhook_deliveries[seen:]
    # Every other attempt found the stopped replica; its retry went to the other one.
    assert any(url == targets[0] and outcome != 200 for _uid, url, outcome in attempts)
    assert all(outcome == 200 for _uid, url, outcome in attempts if url == targets[1])
    assert not fake.webhook_failures
    down.start(wait_ready=True)
    assert_invariants(module_database_url)
    for process in replicas:
        assert fake.token not in process.log_text() and SECRET not in process.log_text()
