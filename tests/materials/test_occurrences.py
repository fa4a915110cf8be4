"""Occurrences of plan items: date-times, crontab semantics, time zones and DST."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.materials.occurrences import (
    Cron,
    Once,
    ScheduleError,
    crontab_days_of_week,
    is_occurrence,
    next_occurrences,
    occurrences_between,
    parse_cron,
    parse_when,
    smallest_gap,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC


def local(tz: ZoneInfo, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


def shown(moments: list[dt.datetime], tz: ZoneInfo) -> list[str]:
    return [m.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %z") for m in moments]


# --- date-times ----------------------------------------------------------------------------


def test_naive_datetime_is_local_time() -> None:
    schedule = parse_when("2026-12-01T08:30", SHANGHAI)
    assert isinstance(schedule, Once)
    assert schedule.at == dt.datetime(2026, 12, 1, 0, 30, tzinfo=UTC)


def test_datetime_with_offset_keeps_its_offset() -> None:
    schedule = parse_when("2026-12-01T08:30+01:00", SHANGHAI)
    assert isinstance(schedule, Once)
    assert schedule.at == dt.datetime(2026, 12, 1, 7, 30, tzinfo=UTC)


def test_yaml_datetime_objects_are_accepted() -> None:
    schedule = parse_when(dt.datetime(2026, 12, 1, 8, 30), SHANGHAI)
    assert isinstance(schedule, Once)
    assert schedule.at.astimezone(SHANGHAI).hour == 8


def test_datetime_occurs_once() -> None:
    schedule = parse_when("2026-12-01T08:30", SHANGHAI)
    before = local(SHANGHAI, 2026, 12, 1, 8, 0)
    after = local(SHANGHAI, 2026, 12, 1, 9, 0)
    assert occurrences_between(schedule, before, after) == [schedule.at]  # type: ignore[union-attr]
    assert occurrences_between(schedule, schedule.at, after) == []  # type: ignore[union-attr]
    assert next_occurrences(schedule, after, 5) == []


@pytest.mark.parametrize(
    "value, reason",
    [
        ("2026-12-01", "no time of day"),
        (dt.date(2026, 12, 1), "no time of day"),
        ("2026-13-01T08:00", "neither a date-time"),
        ("tomorrow", "neither a date-time"),
        ("", "empty"),
        ("61 9 * * *", "invalid cron expression"),
        ("0 9 * *", "5 fields"),
        ("0 9 * * * *", "5 fields"),
        ("0 9 * * funday", "unknown day of week"),
        ("0 9 * * 5-1", "runs backwards"),
    ],
)
def test_bad_when_values_say_why(value: object, reason: str) -> None:
    with pytest.raises(ScheduleError, match=reason):
        parse_when(value, SHANGHAI)  # type: ignore[arg-type]


# --- cron: crontab semantics -----------------------------------------------------------------


def test_cron_day_of_week_zero_is_sunday() -> None:
    schedule = parse_when("0 9 * * 0", SHANGHAI)
    moments = next_occurrences(schedule, local(SHANGHAI, 2026, 11, 26), 3)
    assert shown(moments, SHANGHAI) == [
        "Sun 2026-11-29 09:00 +0800",
        "Sun 2026-12-06 09:00 +0800",
        "Sun 2026-12-13 09:00 +0800",
    ]
    assert (
        next_occurrences(parse_when("0 9 * * 7", SHANGHAI), local(SHANGHAI, 2026, 11, 26), 1)[0]
        == moments[0]
    )


def test_cron_weekday_ranges_and_names() -> None:
    start = local(SHANGHAI, 2026, 11, 27, 12)  # a Friday noon
    numbers = next_occurrences(parse_when("30 8 * * 1-5", SHANGHAI), start, 5)
    names = next_occurrences(parse_when("30 8 * * MON-FRI", SHANGHAI), start, 5)
    assert numbers == names
    assert [m.astimezone(SHANGHAI).strftime("%a") for m in numbers] == [
        "Mon",
        "Tue",
        "Wed",
        "Thu",
        "Fri",
    ]


@pytest.mark.parametrize(
    "field, days",
    [
        ("*", None),
        ("0", {0}),
        ("7", {0}),
        ("1-5", {1, 2, 3, 4, 5}),
        ("mon-fri", {1, 2, 3, 4, 5}),
        ("5-7", {5, 6, 0}),
        ("fri-sun", {5, 6, 0}),
        ("sat,sun", {6, 0}),
        ("*/2", {0, 2, 4, 6}),
        ("1-5/2", {1, 3, 5}),
        ("0-6", {0, 1, 2, 3, 4, 5, 6}),
    ],
)
def test_crontab_day_of_week_fields(field: str, days: set[int] | None) -> None:
    result = crontab_days_of_week(field)
    assert (None if result is None else set(result)) == days


def test_every_other_day_counts_from_sunday_like_crontab() -> None:
    moments = next_occurrences(
        parse_when("0 9 * * */2", SHANGHAI), local(SHANGHAI, 2026, 11, 29), 4
    )
    assert [m.astimezone(SHANGHAI).strftime("%a") for m in moments] == ["Sun", "Tue", "Thu", "Sat"]


def test_day_of_month_or_day_of_week_like_vixie_cron() -> None:
    moments = next_occurrences(
        parse_when("0 9 1 * mon", SHANGHAI), local(SHANGHAI, 2026, 11, 26), 4
    )
    assert shown(moments, SHANGHAI) == [
        "Mon 2026-11-30 09:00 +0800",
        "Tue 2026-12-01 09:00 +0800",
        "Mon 2026-12-07 09:00 +0800",
        "Mon 2026-12-14 09:00 +0800",
    ]


def test_macros_and_month_names() -> None:
    assert isinstance(parse_when("@daily", SHANGHAI), Cron)
    moments = next_occurrences(parse_when("0 8 1 dec *", SHANGHAI), local(SHANGHAI, 2026, 1, 1), 2)
    assert shown(moments, SHANGHAI) == ["Tue 2026-12-01 08:00 +0800", "Wed 2027-12-01 08:00 +0800"]


def test_impossible_cron_never_fires() -> None:
    assert (
        next_occurrences(parse_when("0 0 30 2 *", SHANGHAI), local(SHANGHAI, 2026, 1, 1), 1) == []
    )


def test_occurrences_between_is_half_open() -> None:
    schedule = parse_when("0 9 * * *", SHANGHAI)
    nine = local(SHANGHAI, 2026, 12, 1, 9)
    assert occurrences_between(schedule, nine - dt.timedelta(seconds=1), nine) == [nine]
    assert occurrences_between(schedule, nine, nine + dt.timedelta(hours=1)) == []
    week = occurrences_between(schedule, nine, nine + dt.timedelta(days=7))
    assert len(week) == 7 and week[-1] == nine + dt.timedelta(days=7)


def test_is_occurrence() -> None:
    schedule = parse_when("0 9 * * mon", SHANGHAI)
    assert is_occurrence(schedule, local(SHANGHAI, 2026, 11, 30, 9))
    assert not is_occurrence(schedule, local(SHANGHAI, 2026, 12, 1, 9))
    assert not is_occurrence(schedule, local(SHANGHAI, 2026, 11, 30, 9, 0, 1))
    once = parse_when("2026-12-01T08:30", SHANGHAI)
    assert is_occurrence(once, local(SHANGHAI, 2026, 12, 1, 8, 30))
    assert not is_occurrence(once, local(SHANGHAI, 2026, 12, 1, 8, 31))


def test_smallest_gap_finds_too_frequent_schedules() -> None:
    assert smallest_gap(parse_when("*/10 * * * *", SHANGHAI), local(SHANGHAI, 2026, 1, 1)) == (
        dt.timedelta(minutes=10)
    )
    assert smallest_gap(parse_when("0 9 * * *", SHANGHAI), local(SHANGHAI, 2026, 1, 1)) == (
        dt.timedelta(days=1)
    )


# --- time zones ----------------------------------------------------------------------------


def test_shanghai_has_no_dst_every_day_is_0100_utc() -> None:
    schedule = parse_cron("0 9 * * *", SHANGHAI)
    moments = next_occurrences(schedule, dt.datetime(2026, 1, 1, tzinfo=UTC), 366)
    assert {m.astimezone(UTC).time() for m in moments} == {dt.time(1, 0)}
    assert len({m.date() for m in moments}) == 366


def test_berlin_spring_forward_keeps_local_time() -> None:
    schedule = parse_cron("0 9 * * *", BERLIN)
    moments = next_occurrences(schedule, local(BERLIN, 2026, 3, 28), 2)
    assert shown(moments, BERLIN) == ["Sat 2026-03-28 09:00 +0100", "Sun 2026-03-29 09:00 +0200"]
    assert moments[1] - moments[0] == dt.timedelta(hours=23)


def test_berlin_skipped_time_is_due_right_after_the_gap() -> None:
    schedule = parse_cron("30 2 * * *", BERLIN)
    moments = next_occurrences(schedule, local(BERLIN, 2026, 3, 28), 3)
    assert shown(moments, BERLIN) == [
        "Sat 2026-03-28 02:30 +0100",
        "Sun 2026-03-29 03:30 +0200",  # 02:30 does not exist that night
        "Mon 2026-03-30 02:30 +0200",
    ]


def test_berlin_fall_back_repeated_time_is_due_once() -> None:
    schedule = parse_cron("30 2 * * *", BERLIN)
    moments = next_occurrences(schedule, local(BERLIN, 2026, 10, 24), 3)
    assert shown(moments, BERLIN) == [
        "Sat 2026-10-24 02:30 +0200",
        "Sun 2026-10-25 02:30 +0200",  # the first 02:30; the second one is skipped
        "Mon 2026-10-26 02:30 +0100",
    ]


def test_berlin_fall_back_day_is_25_hours_for_a_daily_push() -> None:
    schedule = parse_cron("0 9 * * *", BERLIN)
    moments = next_occurrences(schedule, local(BERLIN, 2026, 10, 24), 2)
    assert moments[1] - moments[0] == dt.timedelta(hours=25)
    assert shown(moments, BERLIN)[1] == "Sun 2026-10-25 09:00 +0100"


def test_berlin_datetime_in_the_gap_is_after_the_gap() -> None:
    once = parse_when("2026-03-29T02:30", BERLIN)
    assert isinstance(once, Once)
    assert once.at.astimezone(BERLIN).strftime("%H:%M %z") == "03:30 +0200"


@given(
    st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2030, 12, 31)),
    st.sampled_from(["0 9 * * *", "30 8 * * 1-5", "0 */6 * * *", "15 2 * * sun", "0 0 1 * *"]),
    st.sampled_from([SHANGHAI, BERLIN, ZoneInfo("America/New_York")]),
)
def test_occurrences_are_strictly_increasing_and_exact(
    start: dt.datetime, expression: str, tz: ZoneInfo
) -> None:
    schedule = parse_cron(expression, tz)
    after = start.replace(tzinfo=tz)
    moments = next_occurrences(schedule, after, 6)
    assert moments and moments[0] > after
    assert all(a < b for a, b in itertools.pairwise(moments))
    assert all(is_occurrence(schedule, m) for m in moments)
    # never the same wall-clock time twice (the repeated hour of a fall-back is due once)
    walls = [m.astimezone(tz).replace(tzinfo=None) for m in moments]
    assert len(set(walls)) == len(walls)
