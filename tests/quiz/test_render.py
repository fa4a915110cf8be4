"""Rendering of private-chat quiz messages (SPEC §5), in Chinese and English."""

from __future__ import annotations

from bot.i18n import translator
from bot.quiz.overview import Overview
from bot.quiz.service import AnswerOutcome, QuestionView, Summary
from bot.telegram.me import overview_text
from bot.telegram.quiz import (
    answered_text,
    feedback_text,
    question_keyboard,
    question_text,
    summary_text,
)

ZH = translator("zh_CN")
EN = translator("en")


def view(qtype: str, **kw: object) -> QuestionView:
    data: dict = {
        "attempt_id": 1,
        "aq_id": 42,
        "mode": "daily",
        "position": 2,
        "total": 5,
        "type": qtype,
        "text": "国家秘密的密级分为几级？",
        "options": ["两级", "三级", "四级"] if qtype in ("single", "multiple") else [],
    }
    data.update(kw)
    return QuestionView(**data)  # type: ignore[arg-type]


def texts(keyboard: object) -> list[list[str]]:
    return [[b.text for b in row] for row in keyboard]  # type: ignore[attr-defined]


def test_single_choice_message() -> None:
    q = view("single")
    assert (
        question_text(ZH, q)
        == "第 2/5 题 · 单选\n国家秘密的密级分为几级？\n\nA. 两级\nB. 三级\nC. 四级"
    )
    assert question_text(EN, q).startswith("Question 2/5 · single choice\n")
    keyboard = question_keyboard(ZH, q)
    assert texts(keyboard) == [["A", "B", "C"]]
    assert [b.data for b in keyboard[0]] == ["q:42:a0", "q:42:a1", "q:42:a2"]  # type: ignore[index]
    assert all(len(b.data.encode()) < 64 for b in keyboard[0])  # type: ignore[index, union-attr]


def test_challenge_header_has_no_total() -> None:
    q = view("judge", mode="challenge", total=None, position=3)
    assert question_text(ZH, q).startswith("第 3 题 · 判断\n")
    assert question_text(EN, q).startswith("Question 3 · true or false\n")


def test_multiple_choice_toggles_and_submit() -> None:
    q = view("multiple", selection=[1])
    assert texts(question_keyboard(ZH, q)) == [["A", "B ✅", "C"], ["提交"]]
    assert texts(question_keyboard(EN, q)) == [["A", "B ✅", "C"], ["Submit"]]
    assert question_keyboard(ZH, q)[1][0].data == "q:42:s"  # type: ignore[index]
    assert "第 2/5 题 · 多选" in question_text(ZH, q)


def test_judge_buttons() -> None:
    q = view("judge")
    assert texts(question_keyboard(ZH, q)) == [["✔ 对", "✘ 错"]]
    assert texts(question_keyboard(EN, q)) == [["✔ True", "✘ False"]]


def test_blank_has_no_buttons_and_a_hint() -> None:
    q = view("blank", seconds=30)
    assert question_keyboard(ZH, q) is None
    text = question_text(ZH, q)
    assert text.startswith("第 2/5 题 · 填空\n")
    assert "请直接回复答案" in text and "限时 30 秒" in text


def outcome(**kw: object) -> AnswerOutcome:
    data: dict = {
        "status": "answered",
        "question": view("single"),
        "correct": True,
        "given": ["B"],
        "answer": ["B"],
        "correct_lines": ["B. 三级"],
        "explanation": "绝密、机密、秘密三级。",
        "points": 1,
    }
    data.update(kw)
    return AnswerOutcome(**data)  # type: ignore[arg-type]


def test_feedback_right_wrong_late_and_capped() -> None:
    right = feedback_text(ZH, outcome())
    assert right.splitlines() == [
        "✅ 回答正确！",
        "正确答案：B. 三级",
        "解析：绝密、机密、秘密三级。",
        "本题得分：+1",
    ]
    wrong = feedback_text(EN, outcome(correct=False, points=0, given=["A"]))
    assert wrong.splitlines()[0] == "❌ Wrong."
    assert "Correct answer: B. 三级" in wrong and "Points won: 0" in wrong
    late = feedback_text(ZH, outcome(correct=False, late=True, points=0))
    assert late.startswith("⏰")
    capped = feedback_text(ZH, outcome(points=0, capped=True))
    assert "已达上限" in capped
    judge = feedback_text(
        ZH, outcome(question=view("judge"), answer=[False], correct_lines=[], given=["true"])
    )
    assert "正确答案：✘ 错" in judge
    review = feedback_text(ZH, outcome(question=view("single", mode="review"), points=0))
    assert "本题得分" not in review
    streak = feedback_text(ZH, outcome(question=view("single", mode="challenge"), streak=4))
    assert "已连续答对 4 题" in streak


def test_answered_question_shows_the_choice() -> None:
    text = answered_text(ZH, outcome())
    assert text.endswith("\n\n你的答案：B")
    assert answered_text(EN, outcome(question=view("judge"), given=["false"])).endswith(
        "Your answer: ✘ False"
    )


def test_summary() -> None:
    summary = Summary("daily", 5, 3, 3, 4, "2026 秋季赛", 12, 30)
    text = summary_text(ZH, summary)
    assert text.splitlines() == [
        "每日答题结束！",
        "题目：5 · 答对：3 · 得分：3",
        "今日积分：4 · 本赛季（2026 秋季赛）积分：12",
    ]
    again = summary_text(EN, summary, again=True)
    assert again.startswith("You have already done today's quiz.")
    out_of_season = summary_text(EN, Summary("challenge", 4, 3, 1, 2, None, None, 9))
    assert out_of_season.splitlines()[0] == "Challenge over: 3 correct in a row."
    assert "In total: 9 points" in out_of_season


def test_me_text() -> None:
    overview = Overview(4, "2026 秋季赛", 12, 30, 2, 7, True, 3, 10, 8, 2)
    text = overview_text(ZH, "张三", overview)
    assert "今日积分：4" in text and "本赛季（2026 秋季赛）积分：12" in text
    assert "累计积分：30" in text and "第 2 名（共 7 人）" in text
    assert "连续学习：3 天" in text and "80.0%" in text and "待复习错题：2 题" in text
    hidden = overview_text(EN, "Li", Overview(0, "2026", 0, 0, None, 0, False, 0, 0, 0, 0))
    assert "Rank" not in hidden and "no answers yet" in hidden
    unranked = overview_text(EN, "Li", Overview(0, "2026", 0, 0, None, 3, True, 0, 0, 0, 0))
    assert "not ranked yet" in unranked
