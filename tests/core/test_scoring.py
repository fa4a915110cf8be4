"""Points rules of the private-chat quizzes: what an answer earns, caps, period keys."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import PointsConfig
from bot.core import scoring

RULES = PointsConfig()
DAY = dt.date(2026, 11, 27)  # a Friday of ISO week 48


def test_period_keys() -> None:
    assert scoring.period_key("daily", DAY) == "2026-11-27"
    assert scoring.period_key("weekly", DAY) == "2026-W48"
    assert scoring.period_key("weekly", dt.date(2027, 1, 1)) == "2026-W53"
    assert scoring.period_key("special", DAY, bank_slug="cyber") == "cyber"
    assert scoring.period_key("challenge", DAY, sequence=3) == "2026-11-27#3"
    assert scoring.period_key("review", DAY) == "2026-11-27#1"
    assert scoring.sequence_of("2026-11-27#12") == 12
    assert scoring.sequence_of("2026-11-27") == 0
    with pytest.raises(ValueError):
        scoring.period_key("special", DAY)
    with pytest.raises(ValueError):
        scoring.period_key("challenge", DAY, sequence=0)
    with pytest.raises(ValueError):
        scoring.period_key("material", DAY)


def test_question_counts() -> None:
    assert scoring.question_count("daily", RULES) == 5
    assert scoring.question_count("weekly", RULES) == 10
    assert scoring.question_count("special", RULES, campaign_questions=8) == 8
    assert scoring.question_count("special", RULES) == scoring.DEFAULT_CAMPAIGN_QUESTIONS
    assert scoring.question_count("review", RULES) == RULES.review.questions
    assert scoring.question_count("challenge", RULES) is None


def test_answer_points_by_mode() -> None:
    assert scoring.answer_points("daily", True, 1, RULES) == 1
    assert scoring.answer_points("daily", False, 0, RULES) == 0
    assert scoring.answer_points("weekly", True, 4, RULES) == 1
    assert scoring.answer_points("special", True, 1, RULES) == 1
    assert scoring.answer_points("review", True, 3, RULES) == 0
    assert scoring.answer_points("material", True, 3, RULES) == 0
    assert [scoring.answer_points("challenge", True, n, RULES) for n in range(1, 7)] == [
        0,
        1,
        0,
        1,
        0,
        1,
    ]
    assert scoring.ledger_kind("review") is None
    assert scoring.ledger_kind("challenge") == "challenge"


@given(st.integers(1, 5), st.integers(0, 5), st.integers(1, 60))
def test_challenge_pays_every_nth_in_a_row(every: int, points: int, streak: int) -> None:
    rules = PointsConfig.model_validate({"challenge": {"every": every, "points": points}})
    total = sum(scoring.answer_points("challenge", True, n, rules) for n in range(1, streak + 1))
    assert total == (streak // every) * points


@given(st.integers(-5, 20), st.integers(0, 30), st.integers(0, 30))
def test_capped_never_exceeds_the_limit(points: int, already: int, limit: int) -> None:
    granted = scoring.capped(points, already, limit)
    if points <= 0:
        assert granted == points
    else:
        assert 0 <= granted <= points
        assert granted <= max(0, limit - already)
        assert granted == max(0, min(points, limit - already))


@given(st.lists(st.booleans(), max_size=40), st.integers(0, 10))
def test_daily_cap_over_a_day_of_answers(results: list[bool], cap: int) -> None:
    rules = PointsConfig.model_validate({"daily_quiz": {"daily_cap": cap}})
    total = 0
    for right in results:
        total += scoring.capped(scoring.answer_points("daily", right, 1, rules), total, cap)
    assert total == min(cap, sum(results))


def test_cap_windows() -> None:
    daily = scoring.cap_window("daily", RULES, DAY)
    assert daily == scoring.CapWindow(5, DAY, DAY)
    challenge = scoring.cap_window("challenge", RULES, DAY)
    assert challenge == scoring.CapWindow(6, DAY, DAY)
    weekly = scoring.cap_window("weekly", RULES, DAY)
    assert weekly == scoring.CapWindow(10, dt.date(2026, 11, 23), dt.date(2026, 11, 29))
    assert scoring.cap_window("special", RULES, DAY) is None
    assert scoring.cap_window("review", RULES, DAY) is None


def test_campaign_open_and_accuracy() -> None:
    assert scoring.campaign_open(dt.date(2026, 11, 1), dt.date(2026, 11, 30), DAY)
    assert scoring.campaign_open(DAY, DAY, DAY)
    assert not scoring.campaign_open(dt.date(2026, 12, 1), dt.date(2026, 12, 31), DAY)
    assert not scoring.campaign_open(None, None, DAY)
    assert scoring.accuracy(3, 4) == 0.75
    assert scoring.accuracy(0, 0) is None
