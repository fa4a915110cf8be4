"""End to end: bank files sent in chat to the real process over the fake Bot API.

An admin's upload is downloaded (getFile), imported and answered with the summary or with the
problems; a staff member's upload is refused before anything is downloaded or imported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.db.engine import create_engine, create_session_factory
from tests import dbutil, factories
from tests.banks.helpers import QUIZZES, snapshot
from tests.e2e.harness import BotProcess
from tests.fakebot import FakeBotAPI

pytestmark = pytest.mark.e2e

ADMIN, STAFF, ENGLISH_ADMIN = 9301, 9302, 9303


def seed_members(url: str) -> None:
    async def work() -> None:
        engine = create_engine(url)
        try:
            async with create_session_factory(engine).begin() as session:
                await factories.member(session, "管理员", telegram_id=ADMIN)
                await factories.member(session, "职工", telegram_id=STAFF)
                await factories.member(session, "Admin", telegram_id=ENGLISH_ADMIN)
        finally:
            await engine.dispose()

    asyncio.run(work())


@pytest.fixture(scope="module")
def bot(
    fake_bot: FakeBotAPI, module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    seed_members(module_database_url)
    process = BotProcess(
        fake_bot,
        tmp_path=tmp_path_factory.mktemp("banks-bot"),
        database_url=module_database_url,
        config={"admins": [ADMIN, ENGLISH_ADMIN]},
    )
    process.start()
    yield process
    process.terminate()


def upload(fake: FakeBotAPI, user_id: int, name: str, content: bytes, lang: str = "zh-hans") -> str:
    user = fake.user(user_id, language_code=lang)
    mark = fake.mark()
    fake.send_document(user, name, content)
    return str(fake.wait_for("sendMessage", since=mark, chat_id=user_id, timeout=60).params["text"])


def command(fake: FakeBotAPI, user_id: int, text: str) -> str:
    user = fake.user(user_id, language_code="zh-hans")
    mark = fake.mark()
    fake.send_text(user, text)
    return str(fake.wait_for("sendMessage", since=mark, chat_id=user_id, timeout=60).params["text"])


def test_admin_uploads_banks_and_gets_the_summary(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    content = (QUIZZES / "fire-safety.xlsx").read_bytes()
    mark = fake_bot.mark()
    text = upload(fake_bot, ADMIN, "fire-safety.xlsx", content)
    assert text == (
        "fire-safety.xlsx：题库 fire-safety（消防安全）：新增 12 题，更新 0 题，停用 0 题，"
        "未变 0 题。这是新题库。"
    )
    assert fake_bot.calls("getFile", since=mark)
    assert (
        dbutil.scalar(
            module_database_url,
            "SELECT count(*) FROM questions q JOIN banks b ON b.id = q.bank_id "
            "WHERE b.slug = 'fire-safety' AND NOT q.retired",
        )
        == 12
    )

    again = upload(fake_bot, ADMIN, "fire-safety.xlsx", content)
    assert again == (
        "fire-safety.xlsx：题库 fire-safety（消防安全）没有变化（共 12 题），未写入任何内容。"
    )
    yaml_text = upload(
        fake_bot, ENGLISH_ADMIN, "cyber-security.yaml",
        (QUIZZES / "cyber-security.yaml").read_bytes(), lang="en",
    )  # fmt: skip
    assert yaml_text == (
        "cyber-security.yaml: bank cyber-security (网络安全常识): 15 added, 0 updated, "
        "0 retired, 0 unchanged. New bank."
    )


def test_broken_bank_gets_its_problems_and_changes_nothing(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    questions = "".join(
        f"  - id: q{n}\n    type: single\n    text: 第{n}题\n    options: [甲, 乙]\n    answer: C\n"
        for n in range(1, 26)
    )
    content = f"bank: broken\ntitle: 坏题库\nquestions:\n{questions}".encode()
    before = snapshot(module_database_url)
    text = upload(fake_bot, ADMIN, "broken.yaml", content)
    lines = text.splitlines()
    assert lines[0] == "broken.yaml 未导入，没有任何改动。共 25 处问题："
    assert (
        lines[1]
        == "• broken.yaml，第 8 行，题目 q1，字段 answer：答案 C 没有对应的选项；选项只有 A–B"
    )
    assert len([line for line in lines if line.startswith("• ")]) == 20
    assert lines[-1] == "……另有 5 处问题。"
    assert snapshot(module_database_url) == before

    unsafe = b"bank: x\nquestions: !!python/object/apply:os.system ['touch /tmp/owned']\n"
    text = upload(fake_bot, ADMIN, "evil.yaml", unsafe)
    assert "不安全，拒绝读取：不允许使用标签 !!python/object/apply:os.system" in text
    assert snapshot(module_database_url) == before
    assert not Path("/tmp/owned").exists()


def test_non_admin_upload_is_refused_and_nothing_imported(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    before = snapshot(module_database_url)
    mark = fake_bot.mark()
    text = upload(
        fake_bot, STAFF, "security-basics.yaml", (QUIZZES / "security-basics.yaml").read_bytes()
    )
    assert "仅限管理员" in text
    assert not fake_bot.calls("getFile", since=mark)
    assert snapshot(module_database_url) == before
    assert "仅限管理员" in command(fake_bot, STAFF, "/banks")


def test_banks_lists_the_banks_with_counts_by_type(bot: BotProcess, fake_bot: FakeBotAPI) -> None:
    upload(fake_bot, ADMIN, "fire-safety.xlsx", (QUIZZES / "fire-safety.xlsx").read_bytes())
    text = command(fake_bot, ADMIN, "/banks")
    lines = text.splitlines()
    assert lines[0].startswith("题库（共 ")
    assert "• fire-safety 消防安全：12 题（单选 4、多选 3、判断 3、填空 2）" in lines
    assert lines[-1].startswith("要新增或更新题库，请直接发送题库文件")
