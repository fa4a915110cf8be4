"""Live-quiz points: per correct answer plus the speed bonus; the ranking order."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from bot.quiz.live_scoring import MemberTotals, ScoredAnswer, question_points, standings

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def answer(aid: int, ms: int, correct: bool = True) -> ScoredAnswer:
    return ScoredAnswer(aid, aid, correct, ms, T0 + dt.timedelta(milliseconds=ms))


def test_the_three_fastest_correct_answers_get_the_bonus() -> None:
    answers = [
        answer(1, 900, False),
        answer(2, 3000),
        answer(3, 1200),
        answer(4, 5000),
        answer(5, 2000),
    ]
    assert question_points(answers, 2, [3, 2, 1]) == {1: 0, 3: 5, 5: 4, 2: 3, 4: 2}
    assert question_points(answers, 1, []) == {1: 0, 2: 1, 3: 1, 4: 1, 5: 1}
    assert question_points([], 2, [3, 2, 1]) == {}


def test_a_tie_on_the_millisecond_goes_to_the_answer_recorded_first() -> None:
    first = ScoredAnswer(9, 1, True, 1000, T0)
    second = ScoredAnswer(3, 2, True, 1000, T0 + dt.timedelta(microseconds=10))
    assert question_points([second, first], 2, [3, 2, 1]) == {9: 5, 3: 4}


@given(
    st.lists(st.tuples(st.integers(0, 60_000), st.booleans()), max_size=30),
    st.integers(0, 5),
    st.lists(st.integers(0, 5), max_size=5),
)
def test_points_properties(rows: list[tuple[int, bool]], per: int, bonus: list[int]) -> None:
    answers = [answer(i, ms, ok) for i, (ms, ok) in enumerate(rows)]
    points = question_points(answers, per, bonus)
    assert set(points) == {a.answer_id for a in answers}
    for a in answers:
        assert (points[a.answer_id] >= per) if a.correct else points[a.answer_id] == 0
    correct = [a for a in answers if a.correct]
    assert sum(points.values()) == per * len(correct) + sum(bonus[: len(correct)])
    if sorted(bonus, reverse=True) == bonus:
        for x in correct:
            for y in correct:
                if (x.elapsed_ms, x.answered_at, x.answer_id) < (
                    y.elapsed_ms,
                    y.answered_at,
                    y.answer_id,
                ):
                    assert points[x.answer_id] >= points[y.answer_id]


def test_standings_order_and_shared_ranks() -> None:
    totals = [
        MemberTotals(1, "甲", "办公室", 3, 2, 8, 4000),
        MemberTotals(2, "乙", None, 3, 3, 13, 6000),
        MemberTotals(3, "丙", "宣传科", 3, 3, 8, 3000),
        MemberTotals(4, "丁", "宣传科", 1, 0, 0, 0),
    ]
    rows = standings(totals)
    assert [(r.rank, r.name, r.points) for r in rows] == [
        (1, "乙", 13),
        (2, "丙", 8),  # more correct answers first
        (2, "甲", 8),
        (4, "丁", 0),
    ]
