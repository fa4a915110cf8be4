"""Report periods of SPEC §4."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.periods import PeriodError, custom_period, iso_week_key, parse_period

TODAY = dt.date(2026, 11, 26)
SEASONS = [("2026 秋季赛", dt.date(2026, 9, 1), dt.date(2026, 12, 31))]


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("today", TODAY, TODAY),
        ("week", dt.date(2026, 11, 23), dt.date(2026, 11, 29)),
        ("month", dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
        ("quarter", dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
        ("year", dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
        ("season", dt.date(2026, 9, 1), dt.date(2026, 12, 31)),
        ("2025", dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
        ("2026-Q3", dt.date(2026, 7, 1), dt.date(2026, 9, 30)),
        ("2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
        ("2026-W01", dt.date(2025, 12, 29), dt.date(2026, 1, 4)),
        ("本月", dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
    ],
)
def test_periods(text: str, start: dt.date, end: dt.date) -> None:
    period = parse_period(text, TODAY, seasons=SEASONS)
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize("text", ["yesterday", "2026-13", "2026-Q5", "2026-W60", ""])
def test_bad_periods(text: str) -> None:
    if text == "":
        assert parse_period(text or None, TODAY, seasons=SEASONS).label == "2026 秋季赛"
        return
    with pytest.raises(PeriodError):
        parse_period(text, TODAY, seasons=SEASONS)


def test_custom_period_order() -> None:
    assert custom_period(dt.date(2026, 1, 1), dt.date(2026, 1, 31)).days == 31
    with pytest.raises(PeriodError):
        custom_period(dt.date(2026, 2, 1), dt.date(2026, 1, 31))


@given(st.dates(min_value=dt.date(2001, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_every_day_lies_in_its_week_month_quarter_year(day: dt.date) -> None:
    for word in ("today", "week", "month", "quarter", "year"):
        period = parse_period(word, day)
        assert period.contains(day)
    assert iso_week_key(day) == parse_period("week", day).key
