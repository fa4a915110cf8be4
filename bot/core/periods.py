"""Local days, ISO weeks, seasons and the report periods of SPEC §4 (pure functions)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo


class PeriodError(ValueError):
    """A period text that is not one of the forms of SPEC §4."""


@dataclass(frozen=True)
class Period:
    """Inclusive local-date range with a label; ``start_utc``/``end_utc`` bound timestamps."""

    start: dt.date
    end: dt.date
    label: str
    key: str

    def bounds_utc(self, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        start = dt.datetime.combine(self.start, dt.time.min, tzinfo=tz).astimezone(dt.UTC)
        end = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        return start, end.astimezone(dt.UTC)

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def local_now(tz: ZoneInfo, now: dt.datetime | None = None) -> dt.datetime:
    return (now or dt.datetime.now(dt.UTC)).astimezone(tz)


def local_day(tz: ZoneInfo, now: dt.datetime | None = None) -> dt.date:
    return local_now(tz, now).date()


def iso_week_key(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def quarter_of(day: dt.date) -> int:
    return (day.month - 1) // 3 + 1


def _month_end(year: int, month: int) -> dt.date:
    if month == 12:
        return dt.date(year, 12, 31)
    return dt.date(year, month + 1, 1) - dt.timedelta(days=1)


_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$")

PERIOD_WORDS = ("today", "week", "month", "quarter", "year", "season", "all")


def parse_period(
    text: str | None,
    today: dt.date,
    *,
    seasons: list[tuple[str, dt.date, dt.date]] | None = None,
    default: str = "season",
) -> Period:
    """Turn ``today``/``week``/``2026-Q3``… into a Period relative to ``today``."""
    word = (text or default).strip().lower()
    aliases = {
        "今天": "today", "今日": "today", "本周": "week", "本月": "month", "本季度": "quarter",
        "本季": "quarter", "今年": "year", "本年": "year", "全年": "year", "赛季": "season",
        "本赛季": "season", "全部": "all", "day": "today",
    }  # fmt: skip
    word = aliases.get(word, word)
    if word == "today":
        return Period(today, today, today.isoformat(), today.isoformat())
    if word == "week":
        start = week_start(today)
        return Period(start, start + dt.timedelta(days=6), iso_week_key(today), iso_week_key(today))
    if word == "month":
        key = f"{today.year}-{today.month:02d}"
        return Period(today.replace(day=1), _month_end(today.year, today.month), key, key)
    if word == "quarter":
        q = quarter_of(today)
        start = dt.date(today.year, 3 * q - 2, 1)
        key = f"{today.year}-Q{q}"
        return Period(start, _month_end(today.year, 3 * q), key, key)
    if word == "year":
        return _year(today.year)
    if word == "all":
        return Period(dt.date(2000, 1, 1), today, "all", "all")
    if word == "season":
        for name, start, end in seasons or []:
            if start <= today <= end:
                return Period(start, end, name, f"season:{start.isoformat()}")
        if seasons:
            # Between seasons: the latest season that has started.
            past = [s for s in seasons if s[1] <= today]
            if past:
                name, start, end = max(past, key=lambda s: s[1])
                return Period(start, end, name, f"season:{start.isoformat()}")
        return _year(today.year)
    if m := _YEAR.match(word):
        return _year(int(m.group(1)))
    if m := _QUARTER.match(word):
        year, q = int(m.group(1)), int(m.group(2))
        return Period(
            dt.date(year, 3 * q - 2, 1), _month_end(year, 3 * q), f"{year}-Q{q}", f"{year}-Q{q}"
        )
    if m := _MONTH.match(word):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"no month {month} in {text!r}")
        key = f"{year}-{month:02d}"
        return Period(dt.date(year, month, 1), _month_end(year, month), key, key)
    if m := _WEEK.match(word.upper()):
        year, week = int(m.group(1)), int(m.group(2))
        try:
            start = dt.date.fromisocalendar(year, week, 1)
        except ValueError:
            raise PeriodError(f"no week {week} in {year}") from None
        key = f"{year}-W{week:02d}"
        return Period(start, start + dt.timedelta(days=6), key, key)
    raise PeriodError(
        f"unknown period {text!r}: use today, week, month, quarter, year, season, "
        "2026, 2026-Q3, 2026-11 or 2026-W48"
    )


def _year(year: int) -> Period:
    return Period(dt.date(year, 1, 1), dt.date(year, 12, 31), str(year), str(year))


def custom_period(start: dt.date, end: dt.date) -> Period:
    if end < start:
        raise PeriodError(f"--to {end} is before --from {start}")
    key = f"{start.isoformat()}..{end.isoformat()}"
    return Period(start, end, key, key)
