"""End to end: /summary, /report and /leaderboard with the real bot process.

One bot process serves the module, on the fixed November 2026 dataset of the report tests.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import pytest
from openpyxl import load_workbook

from bot.db.engine import create_engine, create_session_factory
from tests.e2e.chat import say
from tests.e2e.harness import BotProcess
from tests.fakebot import FakeBotAPI, FakeUser
from tests.reports import dataset

pytestmark = pytest.mark.e2e

LEADER = 9301
STAFF_A = 1001  # 张三, first in November
STAFF_B = 1002  # 李四, third


def seed(database_url: str) -> None:
    async def work() -> None:
        engine = create_engine(database_url)
        async with create_session_factory(engine).begin() as session:
            await dataset.build(session)
        await engine.dispose()

    asyncio.run(work())


@pytest.fixture(scope="module")
def bot(
    fake_bot: FakeBotAPI, module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    seed(module_database_url)
    process = BotProcess(
        fake_bot,
        tmp_path=tmp_path_factory.mktemp("reports-bot"),
        database_url=module_database_url,
        config={
            "departments": ["办公室", "宣传科", "业务一科"],
            "leaders": [LEADER],
            "organization": "测试区局",
        },
    )
    process.start()
    yield process
    process.terminate()


@pytest.fixture(scope="module")
def people(fake_bot: FakeBotAPI) -> dict[str, FakeUser]:
    return {
        "leader": fake_bot.user(LEADER, "Leader"),
        "a": fake_bot.user(STAFF_A, "张三"),
        "b": fake_bot.user(STAFF_B, "李四"),
    }


def test_leader_summary_is_text_and_a_workbook(
    bot: BotProcess, fake_bot: FakeBotAPI, people: dict[str, FakeUser]
) -> None:
    fake = fake_bot
    mark = fake.mark()
    fake.send_text(people["leader"], "/summary 2026-11")
    document = fake.wait_for("sendDocument", since=mark, chat_id=LEADER, timeout=60)
    texts = [c.text or "" for c in fake.calls("sendMessage", chat_id=LEADER, since=mark)]
    summary = next(t for t in texts if t.startswith("📊"))
    assert "参学率: 66.7%" in summary and "平均正确率: 75.0%" in summary
    assert "2026年11月，测试区局依托学习平台共推送学习材料2期" in summary
    name, content = fake.sent_document(document)
    assert name.endswith(".xlsx")
    wb = load_workbook(io.BytesIO(content))
    assert wb.sheetnames == ["概览", "分部门", "分人员", "分题目", "原始记录"]


def test_leader_report_is_docx_xlsx_and_a_chart(
    bot: BotProcess, fake_bot: FakeBotAPI, people: dict[str, FakeUser]
) -> None:
    fake = fake_bot
    mark = fake.mark()
    fake.send_text(people["leader"], "/report 2026-11")
    fake.wait_for("sendPhoto", since=mark, chat_id=LEADER, timeout=60)
    names = [
        fake.sent_document(c)[0] for c in fake.calls("sendDocument", chat_id=LEADER, since=mark)
    ]
    assert sorted(n.rsplit(".", 1)[1] for n in names) == ["docx", "xlsx"]


def test_staff_are_refused_summary_and_report(
    bot: BotProcess, fake_bot: FakeBotAPI, people: dict[str, FakeUser]
) -> None:
    fake = fake_bot
    mark = fake.mark()
    for command in ("/summary", "/report 2026-11"):
        answer = say(fake, people["a"], command, timeout=30)
        assert "仅限" in (answer.text or "")
    assert fake.calls("sendDocument", chat_id=STAFF_A, since=mark) == []


def test_staff_leaderboard_shows_top_and_own_rank(
    bot: BotProcess, fake_bot: FakeBotAPI, people: dict[str, FakeUser]
) -> None:
    fake = fake_bot
    mark = fake.mark()
    answer = say(fake, people["b"], "/leaderboard 2026-11", timeout=30)
    text = answer.text or ""
    assert text.startswith("🏆 积分排行榜 · 2026-11")
    # Talking to the bot today (in November) earned A and B their daily check-in point.
    assert "1. 张三（办公室）15分" in text and "5. 周八（业务一科）1分" in text
    assert "你的排名：第3名 · 6分" in text
    fake.wait_for("sendPhoto", since=mark, chat_id=STAFF_B, timeout=30)
    departments = say(fake, people["b"], "/leaderboard 2026-11 部门", timeout=30)
    assert "1. 办公室：人均10.5分，参学率100.0%（2/2）" in (departments.text or "")
    bad = say(fake, people["b"], "/leaderboard 2026-13", timeout=30)
    assert "无法识别" in (bad.text or "")
