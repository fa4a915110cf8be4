"""End to end: registration, roles, groups, uploads and start-up errors of the real process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import dbutil
from tests.e2e.chat import say
from tests.e2e.harness import BotProcess, run_cli
from tests.fakebot import FakeBotAPI

pytestmark = pytest.mark.e2e

ADMIN = 9001
GROUP = -1001234
FOREIGN_GROUP = -100999


@pytest.fixture(scope="module")
def bot(fake_bot: FakeBotAPI, module_database_url: str, tmp_path_factory) -> Iterator[BotProcess]:
    process = BotProcess(
        fake_bot,
        tmp_path=tmp_path_factory.mktemp("bot"),
        database_url=module_database_url,
        config={
            "departments": ["办公室", "宣传科", "业务一科"],
            "admins": [ADMIN],
            "groups": [GROUP],
        },
    )
    process.start()
    yield process
    process.terminate()


def register(fake: FakeBotAPI, user, name: str, dept: str) -> str:
    assert "真实姓名" in say(fake, user, "/start").params["text"]
    ask = say(fake, user, name)
    assert "部门" in ask.params["text"]
    message = fake.messages(user.id)[-1]
    mark = fake.mark()
    fake.press(user, message, text=dept)
    return fake.wait_for("sendMessage", since=mark, chat_id=user.id).params["text"]


def test_registration_flow_binds_once(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    user = fake_bot.user(5001, first_name="San", username="zhangsan", language_code="zh-hans")
    confirmation = register(fake_bot, user, "张三", "宣传科")
    assert "张三" in confirmation and "宣传科" in confirmation
    rows = dbutil.query(
        module_database_url,
        "SELECT m.name, d.name FROM members m JOIN departments d ON d.id = m.department_id "
        "WHERE m.telegram_id = :tid",
        tid=5001,
    )
    assert [tuple(r) for r in rows] == [("张三", "宣传科")]
    again = say(fake_bot, user, "/start")
    assert "已注册" in again.params["text"]
    assert (
        dbutil.scalar(module_database_url, "SELECT count(*) FROM members WHERE telegram_id = 5001")
        == 1
    )
    assert (
        dbutil.scalar(
            module_database_url,
            "SELECT d.name FROM members m JOIN departments d ON d.id = m.department_id WHERE m.telegram_id = 5001",
        )
        == "宣传科"
    )


def test_department_button_pressed_twice_binds_once(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    user = fake_bot.user(5008, first_name="Double", language_code="zh-hans")
    say(fake_bot, user, "/start")
    say(fake_bot, user, "双击")
    message = fake_bot.messages(5008)[-1]
    mark = fake_bot.mark()
    fake_bot.press(user, message, text="办公室")
    fake_bot.press(user, message, text="业务一科")
    fake_bot.wait_for_count("answerCallbackQuery", 2, since=mark)
    answers = [c.params.get("text", "") for c in fake_bot.calls("answerCallbackQuery", since=mark)]
    assert sum("失效" in a for a in answers) == 1
    welcomes = [
        c
        for c in fake_bot.calls("sendMessage", since=mark, chat_id=5008)
        if "注册成功" in c.params["text"]
    ]
    assert len(welcomes) == 1 and "办公室" in welcomes[0].params["text"]
    rows = dbutil.query(
        module_database_url,
        "SELECT d.name FROM members m JOIN departments d ON d.id = m.department_id WHERE m.telegram_id = 5008",
    )
    assert [r[0] for r in rows] == ["办公室"]


def test_english_user_gets_english(bot: BotProcess, fake_bot: FakeBotAPI) -> None:
    user = fake_bot.user(5002, first_name="Li", language_code="en")
    reply = say(fake_bot, user, "/start")
    assert (
        reply.params["text"] == "Welcome to the study programme! Please reply with your real name."
    )
    assert "Unknown command" in say(fake_bot, user, "/nonsense").params["text"]


def test_first_interaction_of_the_day_is_a_checkin(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    user = fake_bot.user(5003, first_name="Wang", language_code="zh-hans")
    register(fake_bot, user, "王五", "办公室")
    say(fake_bot, user, "/help")
    say(fake_bot, user, "/help")
    member_id = dbutil.scalar(
        module_database_url, "SELECT id FROM members WHERE telegram_id = 5003"
    )
    assert (
        dbutil.scalar(
            module_database_url,
            "SELECT count(*) FROM points_ledger WHERE member_id = :m AND kind = 'checkin'",
            m=member_id,
        )
        == 1
    )


def test_non_admin_grant_is_refused_admin_grant_works(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    staff = fake_bot.user(5004, first_name="Zhao", username="zhaoliu", language_code="zh-hans")
    register(fake_bot, staff, "赵六", "办公室")
    refused = say(fake_bot, staff, "/grant @zhaoliu admin")
    assert "仅限管理员" in refused.params["text"]
    assert dbutil.scalar(module_database_url, "SELECT count(*) FROM member_roles") == 0
    assert "/grant" not in say(fake_bot, staff, "/help").params["text"]
    admin = fake_bot.user(ADMIN, first_name="Admin", language_code="zh-hans")
    granted = say(fake_bot, admin, "/grant @zhaoliu leader")
    assert "赵六" in granted.params["text"] and "领导" in granted.params["text"]
    assert [
        tuple(r) for r in dbutil.query(module_database_url, "SELECT role FROM member_roles")
    ] == [("leader",)]
    assert "/summary" in say(fake_bot, staff, "/help").params["text"]
    adjusted = say(fake_bot, admin, "/adjust @zhaoliu 5 竞赛补录")
    assert "+5" in adjusted.params["text"]
    assert (
        dbutil.scalar(module_database_url, "SELECT reason FROM points_ledger WHERE kind = 'adjust'")
        == "竞赛补录"
    )
    assert "用法" in say(fake_bot, admin, "/adjust @zhaoliu lots").params["text"]


def test_unknown_group_is_left_known_group_stays(bot: BotProcess, fake_bot: FakeBotAPI) -> None:
    user = fake_bot.user(5005, first_name="Qian", language_code="zh-hans")
    foreign = fake_bot.group(FOREIGN_GROUP, title="别的群")
    mark = fake_bot.mark()
    fake_bot.send_text(user, "/help", chat=foreign)
    left = fake_bot.wait_for("leaveChat", since=mark)
    assert int(left.params["chat_id"]) == FOREIGN_GROUP
    fake_bot.assert_no_call("sendMessage", since=mark, chat_id=FOREIGN_GROUP, within=1.0)
    ours = fake_bot.group(GROUP, title="学习群")
    mark = fake_bot.mark()
    fake_bot.send_text(user, "/help", chat=ours)
    fake_bot.wait_for("sendMessage", since=mark, chat_id=GROUP)
    assert not fake_bot.calls("leaveChat", since=mark)


def test_roster_upload_by_admin_and_refusal_for_staff(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    csv = "name,department,employee_no\n孙八,业务一科,E801\n周九,业务一科,E802\n".encode()
    staff = fake_bot.user(5006, first_name="Sun", language_code="zh-hans")
    register(fake_bot, staff, "孙七", "办公室")
    mark = fake_bot.mark()
    fake_bot.send_document(staff, "roster.csv", csv, caption="/roster")
    refusal = fake_bot.wait_for("sendMessage", since=mark, chat_id=5006)
    assert "仅限管理员" in refusal.params["text"]
    assert (
        dbutil.scalar(
            module_database_url, "SELECT count(*) FROM members WHERE employee_no = 'E801'"
        )
        == 0
    )
    admin = fake_bot.user(ADMIN, first_name="Admin", language_code="zh-hans")
    bad = "name,department\n,业务一科\n".encode()
    mark = fake_bot.mark()
    fake_bot.send_document(admin, "bad.csv", bad, caption="/roster")
    errors = fake_bot.wait_for("sendMessage", since=mark, chat_id=ADMIN).params["text"]
    assert "未导入" in errors and "bad.csv row 2" in errors
    mark = fake_bot.mark()
    fake_bot.send_document(admin, "roster.csv", csv, caption="/roster")
    done = fake_bot.wait_for("sendMessage", since=mark, chat_id=ADMIN).params["text"]
    assert "新增 2 人" in done
    assert (
        dbutil.scalar(
            module_database_url,
            "SELECT count(*) FROM members WHERE employee_no IN ('E801', 'E802')",
        )
        == 2
    )
    mark = fake_bot.mark()
    fake_bot.send_document(admin, "roster.exe", b"MZ", caption="/roster")
    assert "不支持" in fake_bot.wait_for("sendMessage", since=mark, chat_id=ADMIN).params["text"]


def test_oversized_upload_is_refused_before_download(bot: BotProcess, fake_bot: FakeBotAPI) -> None:
    admin = fake_bot.user(ADMIN, first_name="Admin", language_code="zh-hans")
    mark = fake_bot.mark()
    fake_bot.send_document(
        admin, "big.csv", b"name\n" + b"x" * (6 * 1024 * 1024), caption="/roster"
    )
    text = fake_bot.wait_for("sendMessage", since=mark, chat_id=ADMIN).params["text"]
    assert "超过 5 MB 上限" in text
    assert not fake_bot.calls("getFile", since=mark)


def test_free_text_gets_a_hint(bot: BotProcess, fake_bot: FakeBotAPI) -> None:
    stranger = fake_bot.user(5007, first_name="Wu", language_code="zh-hans")
    assert "/start" in say(fake_bot, stranger, "你好").params["text"]


def test_run_without_token_exits_2_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "telegram.token" in lines[0]


def test_bad_config_exits_2_without_traceback(tmp_path: Path, fake_bot: FakeBotAPI) -> None:
    result = run_cli(
        ["run"],
        tmp_path=tmp_path,
        database_url="sqlite:///x.db",
        config={"timezone": "Mars/Olympus"},
    )
    assert result.returncode == 2
    assert "timezone" in result.stderr and "Traceback" not in result.stderr
    assert fake_bot.token not in result.stderr


def test_configured_group_migrated_to_a_supergroup_is_still_served(
    bot: BotProcess, fake_bot: FakeBotAPI
) -> None:
    new_id = -1005550001
    user = fake_bot.user(5009, first_name="Mig", language_code="zh-hans")
    new_group = fake_bot.group(new_id, title="学习群（超级群）")
    mark = fake_bot.mark()
    fake_bot.inject(
        {
            "message": {
                "message_id": 1,
                "date": 1_790_000_000,
                "chat": {"id": new_id, "type": "supergroup", "title": "学习群（超级群）"},
                "from": user.to_dict(),
                "migrate_from_chat_id": GROUP,
            }
        }
    )
    fake_bot.send_text(user, "/help", chat=new_group)
    fake_bot.wait_for("sendMessage", since=mark, chat_id=new_id)
    assert not fake_bot.calls("leaveChat", since=mark)
