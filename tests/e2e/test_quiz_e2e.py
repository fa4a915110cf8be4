"""End to end: private-chat quizzes through the real process and the fake Bot API.

Members and banks are written through the ORM before the bot starts; everything else goes
through Telegram updates, exactly as a member's client would send them. The tests read the
right answers from the database (the shown option order is per attempt) to answer right or
wrong on purpose.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.core.answers import letter_index
from bot.db.engine import create_engine, create_session_factory
from tests import dbutil, factories
from tests.e2e.harness import BotProcess
from tests.fakebot import FakeBotAPI, FakeUser

pytestmark = pytest.mark.e2e

ALICE, BOB, CAROL, DAVE, ERIN, FRANK = 7101, 7102, 7103, 7104, 7105, 7106
HEADER = re.compile(r"^第 (\d+)(?:/(\d+))? 题 · (单选|多选|判断|填空)")

QUESTIONS = [
    factories.q("s1", "single", "国家秘密的密级分为几级？", ["B"], ["两级", "三级", "四级", "五级"], "绝密、机密、秘密。"),
    factories.q("s2", "single", "火警电话是？", ["C"], ["110", "120", "119", "122"], "火警119。"),
    factories.q("s3", "single", "国家宪法日是哪天？", ["D"], ["3月15日", "7月1日", "10月1日", "12月4日"]),
    factories.q("m1", "multiple", "下列属于国家秘密密级的有？", ["A", "B", "D"], ["绝密", "机密", "内部", "秘密"]),
    factories.q("j1", "judge", "国家宪法日是12月4日。", [True], (), "2014年设立。"),
    factories.q("j2", "judge", "涉密计算机可以连接互联网。", [False], (), "严禁。"),
    factories.q("b1", "blank", "我国现行宪法于____年通过。", ["1982", "1982年"], (), "1982年12月4日。"),
]  # fmt: skip

CAMPAIGN = [factories.q("c1", "blank", "《保守国家秘密法》的简称是____。", ["保密法"])]


def seed(url: str) -> None:
    async def work() -> None:
        engine = create_engine(url)
        db = create_session_factory(engine)
        today = dt.datetime.now(dt.UTC).date()
        async with db.begin() as session:
            for tid, name in (
                (ALICE, "艾丽"),
                (BOB, "鲍勃"),
                (CAROL, "卡罗"),
                (DAVE, "戴夫"),
                (ERIN, "艾琳"),
                (FRANK, "弗兰克"),
            ):
                await factories.member(session, name, telegram_id=tid)
            await factories.bank(session, slug="e2e", title="端到端题库", questions=QUESTIONS)
            await factories.bank(
                session,
                slug="secrets",
                title="保密法",
                questions=CAMPAIGN,
                active=False,
                campaign_title="保密法宣传月",
                campaign_from=today - dt.timedelta(days=30),
                campaign_to=today + dt.timedelta(days=365),
                campaign_questions=1,
            )
        await engine.dispose()

    asyncio.run(work())


@pytest.fixture(scope="module")
def bot(fake_bot: FakeBotAPI, module_database_url: str, tmp_path_factory) -> Iterator[BotProcess]:
    seed(module_database_url)
    today = dt.datetime.now(dt.UTC).date()
    season = {
        "name": "测试赛季",
        "from": (today - dt.timedelta(days=30)).isoformat(),
        "to": (today + dt.timedelta(days=365)).isoformat(),
    }
    process = BotProcess(
        fake_bot,
        tmp_path=tmp_path_factory.mktemp("quiz-bot"),
        database_url=module_database_url,
        config={"points": {"seasons": [season]}},
    )
    process.start()
    yield process
    process.terminate()


# --- helpers --------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def asked(url: str, aq_id: int) -> tuple[str, list[int], list[Any]]:
    """(type, shown option order, stored answer) of an asked question."""
    row = dbutil.query(
        url,
        "SELECT qv.type, aq.option_order, qv.answer FROM attempt_questions aq "
        "JOIN question_versions qv ON qv.id = aq.question_version_id WHERE aq.id = :id",
        id=aq_id,
    )[0]
    return row[0], _json(row[1]), _json(row[2])


def current_question(fake: FakeBotAPI, user: FakeUser) -> dict[str, Any]:
    """The latest question message the bot sent to the member."""
    for message in reversed(fake.messages(user.id)):
        if HEADER.match(message.get("text", "")):
            return message
    raise AssertionError("no question message in the chat")


def aq_of(fake: FakeBotAPI, message: dict[str, Any]) -> int | None:
    for _text, data in fake.buttons(message):
        if data and data.startswith("q:"):
            return int(data.split(":")[1])
    return None


def say(fake: FakeBotAPI, user: FakeUser, text: str) -> str:
    mark = fake.mark()
    fake.send_text(user, text)
    return fake.wait_for("sendMessage", since=mark, chat_id=user.id).params["text"]


def start(fake: FakeBotAPI, user: FakeUser, command: str) -> dict[str, Any]:
    """Send a quiz command and return the question message it produces."""
    mark = fake.mark()
    fake.send_text(user, command)
    call = fake.wait_for(
        "sendMessage",
        since=mark,
        chat_id=user.id,
        predicate=lambda c: bool(HEADER.match(c.params.get("text", ""))),
    )
    return fake.message(user.id, call.result["message_id"])  # type: ignore[return-value]


def answer(
    fake: FakeBotAPI, url: str, user: FakeUser, message: dict[str, Any], right: bool
) -> list[str]:
    """Answer the question ``message`` right or wrong; returns the verdict (the edited
    question, or for a blank the reply) and the next question or the summary."""
    mark = fake.mark()
    text = message["text"]
    kind = HEADER.match(text).group(3)  # type: ignore[union-attr]
    if kind == "填空":
        payload = _json(
            dbutil.scalar(
                url, "SELECT payload FROM pending_inputs WHERE telegram_id = :t", t=user.id
            )
        )
        _type, _order, variants = asked(url, payload["aq"])
        fake.send_text(user, str(variants[-1]) if right else "不知道")
    else:
        aq_id = aq_of(fake, message)
        assert aq_id is not None
        qtype, order, solution = asked(url, aq_id)
        if qtype == "judge":
            value = bool(solution[0]) == right
            fake.press(user, message, data=f"q:{aq_id}:{'y' if value else 'n'}")
        elif qtype == "single":
            shown = order.index(letter_index(solution[0]))
            if not right:
                shown = (shown + 1) % len(order)
            fake.press(user, message, data=f"q:{aq_id}:a{shown}")
        else:
            shown = sorted(order.index(letter_index(s)) for s in solution)
            if not right:
                shown = shown[:1]
            for index in shown:
                before = fake.mark()
                fake.press(user, message, data=f"q:{aq_id}:t{index}")
                fake.wait_for("editMessageReplyMarkup", since=before, chat_id=user.id)
            fake.press(user, message, data=f"q:{aq_id}:s")
    if kind == "填空":
        calls = fake.wait_for_count("sendMessage", 2, since=mark, chat_id=user.id)
        return [c.params["text"] for c in calls]
    # A pressed question is edited into its verdict; the next question or summary follows.
    edit = fake.wait_for("editMessageText", since=mark, chat_id=user.id)
    assert edit.params["message_id"] == message["message_id"]
    follow = fake.wait_for("sendMessage", since=mark, chat_id=user.id)
    return [edit.params["text"], follow.params["text"]]


def ledger(url: str, tid: int, kind: str | None = None) -> int:
    sql = (
        "SELECT COALESCE(SUM(l.delta), 0) FROM points_ledger l JOIN members m "
        "ON m.id = l.member_id WHERE m.telegram_id = :t"
    )
    if kind:
        sql += " AND l.kind = :k"
    return int(dbutil.scalar(url, sql, t=tid, k=kind))


def answers_of(url: str, tid: int) -> int:
    return int(
        dbutil.scalar(
            url,
            "SELECT count(*) FROM answers a JOIN members m ON m.id = a.member_id "
            "WHERE m.telegram_id = :t",
            t=tid,
        )
    )


# --- tests ----------------------------------------------------------------------------------


def test_daily_quiz_three_right_of_five_earns_three_points(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    alice = fake_bot.user(ALICE, "Alice")
    message = start(fake_bot, alice, "/quiz")
    assert message["text"].startswith("第 1/5 题 · ")
    pattern = [True, False, True, False, True]
    replies: list[str] = []
    for position, right in enumerate(pattern, start=1):
        assert HEADER.match(message["text"]).group(1) == str(position)  # type: ignore[union-attr]
        if HEADER.match(message["text"]).group(3) in ("单选", "多选"):  # type: ignore[union-attr]
            assert "\nA. " in message["text"] and "\nB. " in message["text"]
        replies = answer(fake_bot, module_database_url, alice, message, right)
        verdict = replies[0]
        if HEADER.match(message["text"]).group(3) != "填空":  # type: ignore[union-attr]
            edited = fake_bot.message(ALICE, message["message_id"])
            assert edited is not None and edited["text"] == verdict
            assert not fake_bot.buttons(edited)
            *_question, choice, verdict = verdict.split("\n\n")
            assert choice.startswith("你的答案：")
        assert verdict.startswith("✅ 回答正确") if right else verdict.startswith("❌ 回答错误")
        assert "正确答案：" in verdict
        assert ("本题得分：+1" in verdict) if right else ("本题得分：0" in verdict)
        if position < 5:
            message = current_question(fake_bot, alice)
    summary = replies[1]
    assert "题目：5 · 答对：3 · 得分：3" in summary
    assert "今日积分：4" in summary  # 3 quiz points + the day's check-in point
    assert ledger(module_database_url, ALICE, "daily_quiz") == 3
    assert ledger(module_database_url, ALICE, "checkin") == 1
    assert ledger(module_database_url, ALICE) == 4


def test_second_daily_quiz_the_same_day_is_done(bot: BotProcess, fake_bot: FakeBotAPI) -> None:
    alice = fake_bot.user(ALICE, "Alice")
    text = say(fake_bot, alice, "/quiz")
    assert "今日答题你已完成" in text and "答对：3" in text


def test_me_shows_points_rank_streak_and_accuracy(bot: BotProcess, fake_bot: FakeBotAPI) -> None:
    alice = fake_bot.user(ALICE, "Alice")
    text = say(fake_bot, alice, "/me")
    assert "今日积分：4" in text and "累计积分：4" in text
    assert "本赛季排名：第 1 名" in text
    assert "连续学习：1 天" in text
    assert "答题正确率：60.0%（5 题中答对 3 题）" in text
    assert "待复习错题：2 题" in text


def test_same_button_twice_and_redelivery_give_nothing_more(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    bob = fake_bot.user(BOB, "Bob")
    message = start(fake_bot, bob, "/weekly")
    while HEADER.match(message["text"]).group(3) not in ("单选", "判断"):  # type: ignore[union-attr]
        answer(fake_bot, module_database_url, bob, message, True)
        message = current_question(fake_bot, bob)
    aq_id = aq_of(fake_bot, message)
    assert aq_id is not None
    qtype, order, solution = asked(module_database_url, aq_id)
    data = (
        f"q:{aq_id}:{'y' if solution[0] else 'n'}"
        if qtype == "judge"
        else f"q:{aq_id}:a{order.index(letter_index(solution[0]))}"
    )
    points = ledger(module_database_url, BOB)
    answered = answers_of(module_database_url, BOB)
    fake_bot.delay("editMessageText", 1.0, before=True)  # the buttons stay up a moment
    mark = fake_bot.mark()
    first = fake_bot.press(bob, message, data=data)
    fake_bot.press(bob, message, data=data)
    fake_bot.wait_for_count("answerCallbackQuery", 2, since=mark)
    fake_bot.wait_for("editMessageText", since=mark, chat_id=BOB, timeout=10)
    fake_bot.wait_for("sendMessage", since=mark, chat_id=BOB)
    replay_mark = fake_bot.mark()
    fake_bot.replay(first["update_id"])
    bot.wait_handled()
    fake_bot.assert_no_call("sendMessage", since=replay_mark, chat_id=BOB, within=1.0)
    sends = fake_bot.calls("sendMessage", since=mark, chat_id=BOB)
    assert len(sends) == 1  # one next question, not two
    assert len(fake_bot.calls("editMessageText", since=mark, chat_id=BOB)) == 1  # one verdict
    toasts = [a.get("text", "") for a in fake_bot.callback_answers.values()]
    assert any("已经作答" in t for t in toasts)
    assert answers_of(module_database_url, BOB) == answered + 1
    assert ledger(module_database_url, BOB) == points + 1


def test_verdict_is_sent_when_the_question_cannot_be_edited(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    bob = fake_bot.user(BOB, "Bob")
    message = current_question(fake_bot, bob)
    while HEADER.match(message["text"]).group(3) not in ("单选", "判断"):  # type: ignore[union-attr]
        answer(fake_bot, module_database_url, bob, message, True)
        message = current_question(fake_bot, bob)
    fake_bot.fail("editMessageText", status=400, description="Bad Request: message can't be edited")
    mark = fake_bot.mark()
    fake_bot.press(bob, message, data=fake_bot.buttons(message)[0][1])
    sent = fake_bot.wait_for_count("sendMessage", 2, since=mark, chat_id=BOB)
    verdicts = [c for c in sent if c.params.get("reply_parameters")]
    assert len(verdicts) == 1  # the verdict answers the question it judges
    verdict = verdicts[0]
    assert verdict.params["reply_parameters"]["message_id"] == message["message_id"]
    assert verdict.params["text"].startswith(("✅ 回答正确", "❌ 回答错误"))
    assert "正确答案：" in verdict.params["text"]
    (follow,) = (c.params["text"] for c in sent if c is not verdict)
    assert HEADER.match(follow) or "得分：" in follow
    assert fake_bot.calls("editMessageText", since=mark, chat_id=BOB)[0].status == 400


def test_someone_elses_button_does_nothing(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    erin = fake_bot.user(ERIN, "Erin")
    bob = fake_bot.user(BOB, "Bob")
    bobs = current_question(fake_bot, bob)
    aq_id = aq_of(fake_bot, bobs)
    assert aq_id is not None
    data = fake_bot.buttons(bobs)[0][1]
    before_answers = answers_of(module_database_url, BOB) + answers_of(module_database_url, ERIN)
    mark = fake_bot.mark()
    update = fake_bot.press(erin, bobs, data=data)
    call = fake_bot.wait_for("answerCallbackQuery", since=mark)
    assert call.params["callback_query_id"] == update["callback_query"]["id"]
    assert "不是你的答题" in call.params.get("text", "")
    fake_bot.assert_no_call("sendMessage", since=mark, within=0.5)
    assert not fake_bot.calls("editMessageText", since=mark)
    assert not fake_bot.calls("editMessageReplyMarkup", since=mark)
    after = answers_of(module_database_url, BOB) + answers_of(module_database_url, ERIN)
    assert after == before_answers


def test_killed_after_question_two_resumes_at_question_three(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    carol = fake_bot.user(CAROL, "Carol")
    message = start(fake_bot, carol, "/quiz")
    answer(fake_bot, module_database_url, carol, message, True)
    answer(fake_bot, module_database_url, carol, current_question(fake_bot, carol), True)
    third = current_question(fake_bot, carol)
    assert third["text"].startswith("第 3/5 题")
    bot.kill()
    bot.start()
    mark = fake_bot.mark()
    resumed = start(fake_bot, carol, "/quiz")
    notice = fake_bot.wait_for("sendMessage", since=mark, chat_id=CAROL)
    assert "继续未完成的每日答题" in notice.params["text"]
    assert resumed["message_id"] != third["message_id"]
    assert resumed["text"] == third["text"]  # the same question, options in the same order
    assert fake_bot.buttons(resumed) == fake_bot.buttons(third)
    replies = []
    for right in (True, False, True):
        replies = answer(
            fake_bot, module_database_url, carol, current_question(fake_bot, carol), right
        )
    assert "题目：5 · 答对：4 · 得分：4" in replies[1]
    assert ledger(module_database_url, CAROL, "daily_quiz") == 4
    assert answers_of(module_database_url, CAROL) == 5


def test_challenge_stops_at_the_first_wrong_answer(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    dave = fake_bot.user(DAVE, "Dave")
    message = start(fake_bot, dave, "/challenge")
    assert message["text"].startswith("第 1 题 · ")
    for n in (1, 2, 3):
        replies = answer(fake_bot, module_database_url, dave, message, True)
        assert f"已连续答对 {n} 题" in replies[0]
        message = current_question(fake_bot, dave)
        assert message["text"].startswith(f"第 {n + 1} 题 · ")
    replies = answer(fake_bot, module_database_url, dave, message, False)
    assert "❌ 回答错误" in replies[0]
    assert "挑战结束：连续答对 3 题" in replies[1]
    fake_bot.assert_no_call(
        "sendMessage",
        since=fake_bot.mark(),
        chat_id=DAVE,
        within=0.5,
    )
    assert ledger(module_database_url, DAVE, "challenge") == 1  # 1 point per 2 in a row


def test_missed_questions_come_back_in_review(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    alice = fake_bot.user(ALICE, "Alice")
    missed = dbutil.query(
        module_database_url,
        "SELECT qv.text FROM answers a JOIN members m ON m.id = a.member_id "
        "JOIN question_versions qv ON qv.id = a.question_version_id "
        "WHERE m.telegram_id = :t AND a.correct = :f",
        t=ALICE,
        f=False,
    )
    missed_texts = sorted(r[0] for r in missed)
    assert len(missed_texts) == 2
    message = start(fake_bot, alice, "/review")
    asked_texts = []
    for position in (1, 2):
        assert message["text"].startswith(f"第 {position}/2 题")
        asked_texts.append(message["text"].split("\n")[1])
        replies = answer(fake_bot, module_database_url, alice, message, True)
        assert "本题得分" not in replies[0]
        if position == 1:
            message = current_question(fake_bot, alice)
    assert sorted(asked_texts) == missed_texts
    assert "错题复习结束" in replies[1]
    assert ledger(module_database_url, ALICE, "review") == 0
    assert "今天没有需要复习的错题" in say(fake_bot, alice, "/review")


def test_special_quiz_blank_with_fullwidth_text(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    erin = fake_bot.user(ERIN, "Erin")
    mark = fake_bot.mark()
    fake_bot.send_text(erin, "/special")
    listing = fake_bot.wait_for("sendMessage", since=mark, chat_id=ERIN)
    assert "正在进行的专项答题" in listing.params["text"]
    menu = fake_bot.message(ERIN, listing.result["message_id"])
    assert menu is not None
    mark = fake_bot.mark()
    fake_bot.press(erin, menu, text="保密法宣传月")
    call = fake_bot.wait_for(
        "sendMessage",
        since=mark,
        chat_id=ERIN,
        predicate=lambda c: bool(HEADER.match(c.params.get("text", ""))),
    )
    assert call.params["text"].startswith("第 1/1 题 · 填空")
    assert "请直接回复答案" in call.params["text"]
    mark = fake_bot.mark()
    fake_bot.send_text(erin, "  保密法。")
    verdict, summary = (
        c.params["text"]
        for c in fake_bot.wait_for_count("sendMessage", 2, since=mark, chat_id=ERIN)
    )
    assert verdict.startswith("✅ 回答正确")
    assert "保密法宣传月" in summary and "得分：1" in summary
    assert ledger(module_database_url, ERIN, "special_quiz") == 1
    assert "已参加过本次专项答题" in say(fake_bot, erin, "/special secrets")


def test_blank_in_daily_quiz_accepts_fullwidth_variant(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str
) -> None:
    frank = fake_bot.user(FRANK, "Frank")
    message = start(fake_bot, frank, "/challenge")
    for _ in range(len(QUESTIONS)):
        if HEADER.match(message["text"]).group(3) == "填空":  # type: ignore[union-attr]
            break
        answer(fake_bot, module_database_url, frank, message, True)
        message = current_question(fake_bot, frank)
    else:
        raise AssertionError("the challenge never asked the blank question")
    mark = fake_bot.mark()
    fake_bot.send_text(frank, "１９８２ 年！")
    verdict = fake_bot.wait_for("sendMessage", since=mark, chat_id=FRANK).params["text"]
    assert verdict.startswith("✅ 回答正确")


def test_late_answer_counts_as_wrong(
    bot: BotProcess, fake_bot: FakeBotAPI, module_database_url: str, tmp_path
) -> None:
    bot.terminate()
    timed = BotProcess(
        fake_bot,
        tmp_path=tmp_path,
        database_url=module_database_url,
        config={"points": {"daily_quiz": {"seconds": 1}}},
        name="timed",
    )
    with timed:
        erin = fake_bot.user(ERIN, "Erin")
        message = start(fake_bot, erin, "/quiz")
        assert "限时 1 秒" in message["text"]
        time.sleep(1.5)  # let the time limit pass
        replies = answer(fake_bot, module_database_url, erin, message, True)
        verdict = replies[0].split("\n\n")[-1]
        assert verdict.startswith("⏰")
        assert "本题得分：0" in verdict
    assert ledger(module_database_url, ERIN, "daily_quiz") == 0
    assert (
        dbutil.scalar(
            module_database_url,
            "SELECT count(*) FROM answers a JOIN members m ON m.id = a.member_id "
            "WHERE m.telegram_id = :t AND a.late = :y AND a.correct = :n",
            t=ERIN,
            y=True,
            n=False,
        )
        == 1
    )
