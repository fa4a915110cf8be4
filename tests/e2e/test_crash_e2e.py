"""End to end: SIGKILL at random moments during a burst of mixed traffic, then restart.

Members start daily quizzes and challenges, press answer buttons (the right ones, wrong
ones, old ones, twice), type blank answers, submit reflections, register, and an admin
adjusts points — while the process is killed and restarted a few times. Afterwards every
update Telegram delivered was handled to the end exactly once (nothing lost: each is in
``processed_updates``; nothing doubled: the invariants, and no answer, reflection or
adjustment recorded twice).

STUDYBOT_CRASH_KILLS (default 3) and STUDYBOT_CRASH_SEED change the run.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterator

import pytest

from bot.db.engine import create_engine, create_session_factory
from tests import dbutil, factories
from tests.e2e.chat import say
from tests.e2e.harness import BotProcess
from tests.fakebot import FakeBotAPI, FakeUser
from tests.invariants import assert_invariants

pytestmark = pytest.mark.e2e

KILLS = int(os.environ.get("STUDYBOT_CRASH_KILLS", "3"))
SEED = int(os.environ.get("STUDYBOT_CRASH_SEED", "7"))
ADMIN = 9700
MEMBERS = list(range(9710, 9722))
NEWCOMERS = list(range(9750, 9760))
NOTE = (
    "学习体会：通过本次学习，进一步增强了保密意识和纪律观念，今后要把所学运用到日常工作中去。" * 2
)


async def _seed(url: str) -> None:
    engine = create_engine(url)
    db = create_session_factory(engine)
    async with db.begin() as session:
        for tid in MEMBERS:
            await factories.member(session, f"队员{tid}", telegram_id=tid, username=f"u{tid}")
        await factories.bank(session, "crash", "崩溃测试题库")
    await engine.dispose()


@pytest.fixture(scope="module")
def bot(fake_bot: FakeBotAPI, module_database_url: str, tmp_path_factory) -> Iterator[BotProcess]:
    asyncio.run(_seed(module_database_url))
    process = BotProcess(
        fake_bot,
        tmp_path=tmp_path_factory.mktemp("crash"),
        database_url=module_database_url,
        config={"departments": ["办公室", "宣传科"], "admins": [ADMIN]},
    )
    process.start()
    yield process
    process.terminate()


class Traffic:
    def __init__(self, fake: FakeBotAPI, rng: random.Random) -> None:
        self.fake = fake
        self.rng = rng
        self.members = [fake.user(tid, f"M{tid}") for tid in MEMBERS]
        self.newcomers = [fake.user(tid, f"N{tid}") for tid in NEWCOMERS]
        self.admin = fake.user(ADMIN, "Admin")
        self.notes = 0

    def press(self, user: FakeUser) -> None:
        messages = [m for m in self.fake.messages(user.id) if self.fake.buttons(m)]
        if not messages:
            self.fake.send_text(user, "/quiz")
            return
        # Mostly the latest question, sometimes an older message (a stale button).
        message = messages[-1] if self.rng.random() < 0.8 else self.rng.choice(messages)
        data = [d for _t, d in self.fake.buttons(message) if d]
        self.fake.press(user, message, data=self.rng.choice(data))

    def one(self) -> None:
        roll = self.rng.random()
        user = self.rng.choice(self.members)
        if roll < 0.12:
            self.fake.send_text(user, self.rng.choice(["/quiz", "/challenge", "/weekly", "/me"]))
        elif roll < 0.72:
            self.press(user)
        elif roll < 0.8:
            self.fake.send_text(user, self.rng.choice(["1982", "不知道", "保密法"]))
        elif roll < 0.86:
            self.notes += 1
            self.fake.send_text(user, f"/note {NOTE}（第{self.notes}篇）")
        elif roll < 0.9:
            target = self.rng.choice(MEMBERS)
            self.fake.send_text(
                self.admin, f"/adjust @u{target} {self.rng.choice([1, -1, 2])} 补录"
            )
        else:
            newcomer = self.rng.choice(self.newcomers)
            step = self.rng.random()
            if step < 0.4:
                self.fake.send_text(newcomer, "/start")
            elif step < 0.7:
                self.fake.send_text(newcomer, f"新人{newcomer.id}")
            else:
                self.press(newcomer)


def test_random_kills_lose_nothing_and_double_nothing(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    url = module_database_url
    rng = random.Random(SEED)
    traffic = Traffic(fake_bot, rng)
    for member in traffic.members:
        fake_bot.send_text(member, "/quiz")
    for _ in range(KILLS):
        burst = fake_bot.mark()
        for _ in range(rng.randint(40, 80)):
            traffic.one()
        # Kill while the burst is being handled: a random moment into it.
        fake_bot.wait_for_count("sendMessage", rng.randint(5, 30), since=burst, timeout=30)
        bot.kill()
        for _ in range(rng.randint(5, 20)):  # traffic keeps arriving while the bot is down
            traffic.one()
        bot.start()
    bot.wait_handled(timeout=120)
    context = f"seed {SEED}, {KILLS} kills"

    delivered = {u["update_id"] for u in fake_bot.updates}
    done = {r[0] for r in dbutil.query(url, "SELECT update_id FROM processed_updates")}
    lost = sorted(delivered - done)
    assert not lost, f"{context}: updates never handled to the end: {lost[:20]}"
    assert "kind=" in bot.log_text() and bot.log_text().count("===== start #") == KILLS + 1

    for sql, what in (
        ("SELECT attempt_question_id, count(*) FROM answers WHERE attempt_question_id IS NOT NULL "
         "GROUP BY attempt_question_id HAVING count(*) > 1", "answers to one question"),
        ("SELECT member_id, message_id, count(*) FROM reflections GROUP BY member_id, message_id "
         "HAVING count(*) > 1", "reflections from one message"),
        ("SELECT detail, count(*) FROM audit_log WHERE action = 'points.adjust' "
         "GROUP BY detail, created_at HAVING count(*) > 1", "audits of one adjustment"),
    ):  # fmt: skip
        assert dbutil.query(url, sql) == [], f"{context}: {what} recorded twice"
    adjusts = [
        u for u in fake_bot.updates if u.get("message", {}).get("text", "").startswith("/adjust")
    ]
    assert dbutil.scalar(url, "SELECT count(*) FROM points_ledger WHERE kind = 'adjust'") == len(
        adjusts
    ), context
    notes = [
        u for u in fake_bot.updates if u.get("message", {}).get("text", "").startswith("/note")
    ]
    assert dbutil.scalar(url, "SELECT count(*) FROM reflections") <= len(notes)
    assert dbutil.scalar(url, "SELECT count(*) FROM answers") > 0, "the traffic answered nothing"
    assert_invariants(url)
    member = fake_bot.user(MEMBERS[0], "M")
    assert "你可以" in (say(fake_bot, member, "/help").text or "")
