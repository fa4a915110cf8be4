"""Laying questions out as Telegram polls within the limits python-telegram-bot reports."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.quiz.live_polls import (
    PollLimits,
    QuestionContent,
    explanation_fits,
    fits_poll,
    given_answer,
    is_correct,
    plan_poll,
    shorten_explanation,
    text_length,
)
from bot.telegram.live import poll_limits

LIMITS = poll_limits()


def single(
    text: str = "火警电话是？", options: list[str] | None = None, **kw: object
) -> QuestionContent:
    return QuestionContent(
        type="single",
        text=text,
        options=options or ["110", "120", "119", "122"],
        answer=["C"],
        explanation=kw.get("explanation", "火警119。"),  # type: ignore[arg-type]
    )


def test_limits_come_from_python_telegram_bot() -> None:
    from telegram.constants import PollLimit

    assert LIMITS.question_length == PollLimit.MAX_QUESTION_LENGTH
    assert LIMITS.option_length == PollLimit.MAX_OPTION_LENGTH
    assert LIMITS.option_count == PollLimit.MAX_OPTION_NUMBER
    assert LIMITS.explanation_length == PollLimit.MAX_EXPLANATION_LENGTH
    assert LIMITS.explanation_line_feeds == PollLimit.MAX_EXPLANATION_LINE_FEEDS
    assert LIMITS.min_open_period == PollLimit.MIN_OPEN_PERIOD


def test_single_choice_is_a_quiz_poll() -> None:
    plan = plan_poll(single(), number=2, total=5, locale="zh_CN", limits=LIMITS)
    assert plan.intro is None
    assert plan.question == "【第2/5题·单选】火警电话是？"
    assert plan.options == ["110", "120", "119", "122"]
    assert plan.correct_ids == [2] and plan.quiz
    assert plan.option_map == ["A", "B", "C", "D"]
    assert plan.explanation == "火警119。" and plan.reveal is None
    en = plan_poll(single(), number=2, total=5, locale="en", limits=LIMITS)
    assert en.question == "[2/5 single choice] 火警电话是？"


def test_true_false_uses_fixed_labels() -> None:
    content = QuestionContent("judge", "涉密计算机可以连接互联网。", [], [False], None)
    plan = plan_poll(content, number=1, total=1, locale="zh_CN", limits=LIMITS)
    assert plan.options == ["✔ 对", "✘ 错"]
    assert plan.option_map == [True, False]
    assert plan.correct_ids == [1] and plan.quiz and plan.explanation is None
    assert given_answer(plan.option_map, [1]) == [False]


def test_multiple_choice_is_a_regular_poll_revealed_after_close() -> None:
    content = QuestionContent(
        "multiple",
        "下列属于国家秘密密级的有？",
        ["绝密", "机密", "内部", "秘密"],
        ["A", "B", "D"],
        "内部不是密级。",
    )
    plan = plan_poll(content, number=3, total=3, locale="zh_CN", limits=LIMITS)
    assert not plan.quiz and plan.explanation is None
    assert plan.correct_ids == [0, 1, 3]
    assert plan.reveal == "第 3/3 题正确答案：绝密; 机密; 秘密\n解析：内部不是密级。"
    assert is_correct([3, 1, 0], plan.correct_ids)
    assert not is_correct([0, 1], plan.correct_ids)
    assert not is_correct([0, 1, 2, 3], plan.correct_ids)
    assert not is_correct([], plan.correct_ids)
    assert given_answer(plan.option_map, [3, 0, 0, 9]) == ["A", "D"]


def test_a_long_option_moves_the_question_into_a_message() -> None:
    long_option = "选" * (LIMITS.option_length + 1)
    plan = plan_poll(
        single(options=["甲", long_option]), number=1, total=2, locale="zh_CN", limits=LIMITS
    )
    assert plan.intro == f"第 1/2 题 · 单选\n火警电话是？\n\nA. 甲\nB. {long_option}"
    assert plan.question == "【第1/2题·单选】题目见上条消息"
    assert plan.options == ["A", "B"]


def test_limits_are_not_literals() -> None:
    """A future Bot API with other limits changes the layout without code changes."""
    tight = dataclasses.replace(LIMITS, question_length=10)
    assert plan_poll(single(), number=1, total=1, locale="zh_CN", limits=tight).intro is not None
    assert plan_poll(single(), number=1, total=1, locale="zh_CN", limits=LIMITS).intro is None
    twelve = QuestionContent("single", "Q", [str(i) for i in range(12)], ["A"])
    assert fits_poll(twelve, LIMITS) == (LIMITS.option_count >= 12)
    assert not fits_poll(twelve, dataclasses.replace(LIMITS, option_count=10))
    assert not fits_poll(QuestionContent("blank", "Q", [], ["x"]), LIMITS)


def test_explanations_with_too_many_line_feeds_are_shortened_and_revealed() -> None:
    text = "第一行\n第二行\n第三行\n第四行"
    assert not explanation_fits(text, LIMITS)
    short = shorten_explanation(text, LIMITS)
    assert short.count("\n") == LIMITS.explanation_line_feeds
    plan = plan_poll(single(explanation=text), number=1, total=1, locale="zh_CN", limits=LIMITS)
    assert plan.explanation == short
    assert plan.reveal == f"第 1/1 题解析：{text}"


def test_text_length_counts_utf16_units() -> None:
    assert text_length("火警") == 2
    assert text_length("🔥") == 2


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(min_size=1, max_size=400),
    options=st.lists(st.text(min_size=1, max_size=130), min_size=2, max_size=12),
    explanation=st.text(max_size=400),
    multiple=st.booleans(),
)
def test_every_plan_fits_the_limits(
    text: str, options: list[str], explanation: str, multiple: bool
) -> None:
    content = QuestionContent(
        "multiple" if multiple else "single",
        text,
        options,
        ["A", "B"] if multiple else ["B"],
        explanation,
    )
    plan = plan_poll(content, number=12, total=50, locale="zh_CN", limits=LIMITS)
    assert text_length(plan.question) <= LIMITS.question_length
    assert all(text_length(o) <= LIMITS.option_length for o in plan.options)
    assert len(plan.options) == len(options) <= LIMITS.option_count
    if plan.explanation is not None:
        assert explanation_fits(plan.explanation, LIMITS)
    if plan.intro is not None:
        assert text in plan.intro


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=600), st.integers(1, 300), st.integers(0, 4))
def test_shortened_explanations_always_fit(text: str, length: int, feeds: int) -> None:
    limits = PollLimits(300, 100, 12, length, feeds, 5)
    assert explanation_fits(shorten_explanation(text, limits), limits)
