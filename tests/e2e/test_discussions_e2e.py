"""End to end: topic discussions and study reflections with the real bot process.

One bot process serves the module. Each discussion test uses its own group, and waits for
the bot to have handled every injected update before looking at the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import pytest
from docx import Document
from openpyxl import load_workbook

from bot.db.engine import create_engine, create_session_factory
from bot.db.models import MaterialRead, PlanItem
from tests import dbutil, factories
from tests.e2e.harness import BotProcess, run_cli
from tests.fakebot import Call, FakeBotAPI, FakeChat, FakeUser

pytestmark = pytest.mark.e2e

ADMIN = 9201
MEMBERS = {
    "a": (7101, "张三", "办公室"),
    "b": (7102, "李四", "宣传科"),
    "c": (7103, "王五", "业务一科"),
    "d": (7104, "赵六", "办公室"),
}
STRANGER = 7199
COUNT_GROUP, EDIT_GROUP, RESTART_GROUP, USAGE_GROUP = -1006001, -1006002, -1006003, -1006004
LONG = "我认为保密工作要从日常小事做起，人人有责。"
REFLECTION = (
    "通过本次宪法学习，我深刻认识到宪法是国家的根本法，要自觉尊崇宪法、学习宪法、遵守宪法。" * 3
)


def seed(database_url: str) -> None:
    async def work() -> None:
        engine = create_engine(database_url)
        db = create_session_factory(engine)
        async with db.begin() as session:
            ids = {}
            for key, (tid, name, dept) in MEMBERS.items():
                ids[key] = (await factories.member(session, name, dept=dept, telegram_id=tid)).id
            # a material member c confirmed yesterday: /note offers to link the reflection to it
            item = PlanItem(slug="law-study", title="宪法学习材料", when="2026-11-01T09:00")
            session.add(item)
            await session.flush()
            yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
            session.add(
                MaterialRead(
                    member_id=ids["c"],
                    plan_item_id=item.id,
                    occurrence=yesterday,
                    read_at=yesterday,
                )
            )
        await engine.dispose()

    asyncio.run(work())


@pytest.fixture(scope="module")
def bot(
    fake_bot: FakeBotAPI, module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    seed(module_database_url)
    process = BotProcess(
        fake_bot,
        tmp_path=tmp_path_factory.mktemp("discussions-bot"),
        database_url=module_database_url,
        config={
            "departments": ["办公室", "宣传科", "业务一科"],
            "admins": [ADMIN],
            "groups": [COUNT_GROUP, EDIT_GROUP, RESTART_GROUP, USAGE_GROUP],
        },
    )
    process.start()
    yield process
    process.terminate()


@pytest.fixture(scope="module")
def people(fake_bot: FakeBotAPI) -> dict[str, FakeUser]:
    users = {key: fake_bot.user(tid, name) for key, (tid, name, _d) in MEMBERS.items()}
    users["admin"] = fake_bot.user(ADMIN, "Admin")
    users["stranger"] = fake_bot.user(STRANGER, "Stranger")
    return users


def open_topic(fake: FakeBotAPI, admin: FakeUser, group: FakeChat, args: str) -> dict[str, Any]:
    mark = fake.mark()
    fake.send_text(admin, f"/discuss {args}", chat=group)
    call = fake.wait_for("sendMessage", since=mark, chat_id=group.id, text_contains="主题讨论")
    message = fake.message(group.id, call.result["message_id"])
    assert message is not None
    return message


def reply_to(
    bot: BotProcess, user: FakeUser, group: FakeChat, topic: dict[str, Any], text: str
) -> dict[str, Any]:
    update, message = bot.fake.send_text(user, text, chat=group, reply_to=topic)
    assert update is not None, "a reply to the bot's message reaches it under privacy mode"
    bot.wait_handled(timeout=20)
    return message


def private_texts(fake: FakeBotAPI, user: FakeUser, since: int) -> list[str]:
    return [c.text or "" for c in fake.calls("sendMessage", chat_id=user.id, since=since)]


def discussion_points(url: str, telegram_id: int) -> int:
    return int(
        dbutil.scalar(
            url,
            "SELECT coalesce(sum(l.delta), 0) FROM points_ledger l JOIN members m "
            "ON m.id = l.member_id WHERE m.telegram_id = :t AND l.kind = 'discussion'",
            t=telegram_id,
        )
    )


def participants(url: str, topic_message_id: int, chat_id: int) -> list[str]:
    rows = dbutil.query(
        url,
        "SELECT m.name FROM discussion_participants p JOIN members m ON m.id = p.member_id "
        "JOIN discussions d ON d.id = p.discussion_id "
        "WHERE d.message_id = :mid AND d.chat_id = :chat ORDER BY m.name",
        mid=topic_message_id,
        chat=chat_id,
    )
    return [r[0] for r in rows]


def test_replies_count_once_and_the_close_thanks_the_right_people(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str, people: dict[str, FakeUser]
) -> None:
    fake, url = fake_bot, module_database_url
    group = fake.group(COUNT_GROUP, "学习一群")
    mark = fake.mark()
    topic = open_topic(fake, people["admin"], group, "谈谈保密工作 2")
    assert "谈谈保密工作" in topic["text"] and "回复本条消息" in topic["text"]
    assert "至少 10 个字" in topic["text"]

    counted = reply_to(bot, people["a"], group, topic, LONG)  # counts
    reply_to(bot, people["b"], group, topic, "同意！👍👍")  # too short
    reply_to(bot, people["c"], group, topic, LONG + "一")  # counts
    reply_to(bot, people["c"], group, topic, "再补充一点：还要定期开展自查。")  # already counted
    reply_to(bot, people["stranger"], group, topic, LONG)  # not registered
    reply_to(bot, people["stranger"], group, topic, LONG + "二")
    fake.replay(fake.updates[-6]["update_id"])  # a's reply delivered again
    bot.wait_handled(timeout=20)

    assert any("+1 积分" in t for t in private_texts(fake, people["a"], mark))
    assert any("有效字数为 0" in t for t in private_texts(fake, people["b"], mark))
    assert sum("已计入参与" in t for t in private_texts(fake, people["c"], mark)) == 1
    stranger = private_texts(fake, people["stranger"], mark)
    assert len(stranger) == 1 and "/start" in stranger[0]  # prompted once only
    reactions = fake.calls("setMessageReaction", chat_id=COUNT_GROUP, since=mark)
    assert {c.params["message_id"] for c in reactions} >= {counted["message_id"]}

    close_mark = fake.mark()
    fake.send_text(people["admin"], "/discuss close", chat=group)
    result = fake.wait_for(
        "sendMessage", since=close_mark, chat_id=COUNT_GROUP, text_contains="已结束"
    )
    text = result.text or ""
    assert (
        result.params.get("reply_parameters", {}).get(
            "message_id", result.params.get("reply_to_message_id")
        )
        == topic["message_id"]
    )
    assert "共 2 人参与" in text
    assert "办公室 1 人" in text and "业务一科 1 人" in text and "宣传科" not in text
    assert "张三" in text and "王五" in text
    assert "李四" not in text and "赵六" not in text

    after = fake.mark()
    reply_to(bot, people["d"], group, topic, LONG)  # after the close
    assert any("已经结束" in t for t in private_texts(fake, people["d"], after))
    again = fake.mark()
    fake.send_text(people["admin"], "/discuss close", chat=group)
    answer = fake.wait_for("sendMessage", since=again, chat_id=COUNT_GROUP)
    assert "没有进行中的主题讨论" in (answer.text or "")

    assert participants(url, topic["message_id"], COUNT_GROUP) == ["张三", "王五"]
    points = {k: discussion_points(url, MEMBERS[k][0]) for k in "abcd"}
    assert points == {"a": 1, "b": 0, "c": 1, "d": 0}
    assert (
        dbutil.scalar(
            url,
            "SELECT count(*) FROM discussion_replies r JOIN discussions d ON d.id = r.discussion_id "
            "WHERE d.chat_id = :chat",
            chat=COUNT_GROUP,
        )
        == 5
    )  # a, b, c twice, d after the close (the stranger is no member)
    results = [
        c
        for c in fake.calls("sendMessage", chat_id=COUNT_GROUP, since=mark)
        if "已结束" in (c.text or "")
    ]
    assert len(results) == 1


def test_an_edit_makes_a_short_reply_count(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str, people: dict[str, FakeUser]
) -> None:
    fake, url = fake_bot, module_database_url
    group = fake.group(EDIT_GROUP, "学习二群")
    topic = open_topic(fake, people["admin"], group, "学习宪法有何体会")
    short = reply_to(bot, people["b"], group, topic, "好")
    assert participants(url, topic["message_id"], EDIT_GROUP) == []
    mark = fake.mark()
    fake.edit_text(people["b"], short, "学习宪法让我更加懂得依法办事的重要性")
    fake.wait_for("sendMessage", since=mark, chat_id=people["b"].id, text_contains="已计入参与")
    assert participants(url, topic["message_id"], EDIT_GROUP) == ["李四"]
    assert discussion_points(url, MEMBERS["b"][0]) == 1
    # an edit of a message that replies to no topic changes nothing
    unrelated = fake.send_text(people["c"], "普通聊天消息，与讨论无关的内容", chat=group)[1]
    assert unrelated is not None
    bot.wait_handled(timeout=20)
    assert participants(url, topic["message_id"], EDIT_GROUP) == ["李四"]


def test_a_restart_keeps_the_window_and_closes_on_time(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str, people: dict[str, FakeUser]
) -> None:
    fake, url = fake_bot, module_database_url
    group = fake.group(RESTART_GROUP, "学习三群")
    topic = open_topic(fake, people["admin"], group, "重启也不丢 1")
    reply_to(bot, people["d"], group, topic, LONG)
    bot.kill()
    # the window now ends a few seconds after the restart; nothing else knows about it
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=6)
    dbutil.execute(
        url,
        "UPDATE discussions SET closes_at = :ends WHERE chat_id = :chat",
        ends=ends if "postgresql" in url else ends.replace(tzinfo=None),
        chat=RESTART_GROUP,
    )
    mark = fake.mark()
    bot.start()
    result: Call = fake.wait_for(
        "sendMessage", since=mark, chat_id=RESTART_GROUP, text_contains="已结束", timeout=40
    )
    assert "赵六" in (result.text or "") and "共 1 人参与" in (result.text or "")
    closed_at = dbutil.scalar(
        url, "SELECT closed_at FROM discussions WHERE chat_id = :c", c=RESTART_GROUP
    )
    assert closed_at is not None
    fake.assert_no_call("sendMessage", since=result.index + 1, within=1.5, chat_id=RESTART_GROUP)


def test_reflections_are_refused_stored_listed_and_exported(
    bot: BotProcess,
    fake_bot: FakeBotAPI,
    module_database_url: str,
    people: dict[str, FakeUser],
    tmp_path: Any,
) -> None:
    fake, url = fake_bot, module_database_url
    a, b, admin = people["a"], people["b"], people["admin"]

    def say(user: FakeUser, text: str, contains: str | None = None) -> str:
        mark = fake.mark()
        fake.send_text(user, text)
        return (
            fake.wait_for("sendMessage", since=mark, chat_id=user.id, text_contains=contains).text
            or ""
        )

    refused = say(a, "/note 学习宪法很有收获")
    assert "未保存" in refused and "8 个字" in refused and "至少需要 100 个字" in refused
    assert dbutil.scalar(url, "SELECT count(*) FROM reflections") == 0

    assert "学习心得" in say(a, "/note")
    saved = say(a, REFLECTION)
    assert "已保存" in saved and "+2 积分" in saved
    fake.replay(fake.updates[-1]["update_id"])  # the same message delivered again
    bot.wait_handled(timeout=20)
    rows = dbutil.query(
        url, "SELECT r.text, m.name FROM reflections r JOIN members m ON m.id = r.member_id"
    )
    assert [tuple(r) for r in rows] == [(REFLECTION, "张三")]

    listing = say(a, "/notes")
    assert "共 1 篇" in listing and REFLECTION[:10] in listing

    mark = fake.mark()
    refusal = say(b, "/notes export")
    assert "仅限管理员" in refusal
    assert fake.calls("sendDocument", since=mark) == []

    mark = fake.mark()
    fake.send_text(admin, "/notes export month")
    documents = fake.wait_for_count("sendDocument", 2, since=mark, chat_id=ADMIN, timeout=30)
    files = dict(fake.sent_document(call) for call in documents)
    xlsx_name = next(name for name in files if name.endswith(".xlsx"))
    sheet = load_workbook(io.BytesIO(files[xlsx_name])).active
    values = [row for row in sheet.iter_rows(values_only=True)]
    assert values[1][2] == "张三" and values[1][6] == REFLECTION
    docx_name = next(name for name in files if name.endswith(".docx"))
    paragraphs = "\n".join(p.text for p in Document(io.BytesIO(files[docx_name])).paragraphs)
    assert REFLECTION in paragraphs

    out = tmp_path / "notes.xlsx"
    done = run_cli(
        ["notes", "export", "--period", "month", "--out", str(out)],
        tmp_path=tmp_path,
        database_url=url,
    )
    assert done.returncode == 0, done.stderr
    assert "1 reflection(s)" in done.stdout
    cli_sheet = load_workbook(out).active
    assert cli_sheet.cell(2, 7).value == REFLECTION


def test_discuss_refusals_and_usage(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str, people: dict[str, FakeUser]
) -> None:
    fake = fake_bot
    group = fake.group(USAGE_GROUP, "学习四群")

    def answer(user: FakeUser, text: str, chat: FakeChat | None = None) -> str:
        mark = fake.mark()
        fake.send_text(user, text, chat=chat)
        target = chat.id if chat is not None else user.id
        return fake.wait_for("sendMessage", since=mark, chat_id=target).text or ""

    assert "仅限管理员" in answer(people["a"], "/discuss 员工不能发起", group)
    assert "群组中使用" in answer(people["admin"], "/discuss 私聊不能发起")
    assert "1 分钟到 30 天" in answer(people["admin"], "/discuss 题目 31d", group)
    assert "没有进行中的主题讨论" in answer(people["admin"], "/discuss close", group)
    open_topic(fake, people["admin"], group, "第一个话题 3")
    open_topic(fake, people["admin"], group, "第二个话题")
    usage = answer(people["admin"], "/discuss", group)
    assert "用法" in usage and "第一个话题" in usage and "第二个话题" in usage
    assert "私聊" in answer(people["admin"], "/notes export", group)
    assert "无法识别的期间" in answer(people["admin"], "/notes export someday")
    topics_here = dbutil.scalar(
        module_database_url, "SELECT count(*) FROM discussions WHERE chat_id = :c", c=USAGE_GROUP
    )
    assert topics_here == 2


def test_a_reflection_can_be_linked_to_a_material(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str, people: dict[str, FakeUser]
) -> None:
    fake, c = fake_bot, people["c"]
    mark = fake.mark()
    fake.send_text(c, "/note")
    prompt = fake.wait_for("sendMessage", since=mark, chat_id=c.id, text_contains="学习心得")
    message = fake.message(c.id, prompt.result["message_id"])
    assert message is not None
    assert [text for text, _data in fake.buttons(message)] == ["📎 宪法学习材料"]
    mark = fake.mark()
    fake.press(c, message, text="📎")
    fake.wait_for("sendMessage", since=mark, chat_id=c.id, text_contains="宪法学习材料")
    mark = fake.mark()
    fake.send_text(c, REFLECTION)
    fake.wait_for("sendMessage", since=mark, chat_id=c.id, text_contains="已保存")
    linked = dbutil.scalar(
        module_database_url,
        "SELECT p.title FROM reflections r JOIN plan_items p ON p.id = r.plan_item_id "
        "JOIN members m ON m.id = r.member_id WHERE m.telegram_id = :t",
        t=c.id,
    )
    assert linked == "宪法学习材料"
    mark = fake.mark()
    fake.send_text(c, "/notes")
    listing = fake.wait_for("sendMessage", since=mark, chat_id=c.id).text or ""
    assert "关联：宪法学习材料" in listing
