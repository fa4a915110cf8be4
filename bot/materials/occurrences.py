"""When a study plan item is due: one date-time, or a 5-field crontab expression.

Pure functions, no I/O. The scheduler never trusts a timer's memory: on every tick it asks
"which occurrences fell between the last check and now", so a restart or a second replica
computes the same answer from the plan alone.

Cron expressions keep crontab's meaning, not APScheduler's: day-of-week 0 (and 7) is
Sunday, ``1-5`` is Monday to Friday, and when both day-of-month and day-of-week are
restricted the item is due when *either* matches (as in Vixie cron). On the day a
daylight-saving clock falls back, a wall-clock time that happens twice is due once (the
first time); a time skipped when the clock springs forward is due right after the gap.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

# crontab day-of-week numbers (0 = Sunday) → APScheduler's names
_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_INDEX = {name: i for i, name in enumerate(_DOW_NAMES)}
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DOW_PART = re.compile(r"^(\*|\d+|[a-z]+)(?:-(\d+|[a-z]+))?(?:/(\d+))?$")


class ScheduleError(ValueError):
    """The ``when`` value is neither a date-time nor a valid 5-field cron expression."""


def _dow_value(token: str) -> int:
    if token.isdigit() and int(token) <= 7:
        return int(token) % 7
    if token in _DOW_INDEX:
        return _DOW_INDEX[token]
    raise ScheduleError(f"unknown day of week {token!r} (use 0-7 or sun, mon, … sat)")


def crontab_days_of_week(field: str) -> frozenset[int] | None:
    """The set of crontab weekdays (0 = Sunday) of a day-of-week field; None for ``*``."""
    field = field.strip().lower()
    if field in ("*", "?"):
        return None
    days: set[int] = set()
    for part in field.split(","):
        match = _DOW_PART.match(part)
        if match is None:
            raise ScheduleError(f"invalid day-of-week field {field!r}")
        start, end, step = match.groups()
        step_n = int(step) if step else 1
        if step_n < 1:
            raise ScheduleError(f"invalid step in day-of-week field {field!r}")
        if start == "*":
            if end is not None:
                raise ScheduleError(f"invalid day-of-week field {field!r}")
            first, last = 0, 6
        else:
            # 7 is Sunday too, but as the end of a range it means "through Sunday"
            first = int(start) if start.isdigit() else _DOW_INDEX.get(start, -1)
            if not 0 <= first <= 7:
                raise ScheduleError(f"unknown day of week {start!r} (use 0-7 or sun, mon, … sat)")
            if end is None:
                last = first if step is None else 6
            else:
                last = int(end) if end.isdigit() else _dow_value(end)
                if last > 7:
                    raise ScheduleError(f"unknown day of week {end!r} (use 0-7 or sun … sat)")
                if last == 0 and not end.isdigit():
                    last = 7 if first > 0 else 0  # "fri-sun" runs through Sunday
            if last < first:
                raise ScheduleError(f"day-of-week range {part!r} runs backwards")
        days.update(d % 7 for d in range(first, last + 1, step_n))
    return frozenset(days)


def _apscheduler_dow(days: frozenset[int] | None) -> str:
    if days is None or len(days) == 7:
        return "*"
    # APScheduler counts from Monday; names avoid any numbering confusion
    order = sorted(days, key=lambda d: (d - 1) % 7)
    return ",".join(_DOW_NAMES[d] for d in order)


@dataclass(frozen=True)
class Cron:
    """A 5-field crontab schedule interpreted in ``tz``."""

    expression: str
    tz: ZoneInfo
    triggers: tuple[CronTrigger, ...]

    def next_after(self, after: dt.datetime) -> dt.datetime | None:
        """The first occurrence strictly after ``after`` (aware), as a UTC datetime."""
        start = after + dt.timedelta(microseconds=1)
        while True:
            candidates = [
                t.get_next_fire_time(None, start.astimezone(self.tz)) for t in self.triggers
            ]
            found = [c for c in candidates if c is not None]
            if not found:
                return None
            nxt = min(found).astimezone(dt.UTC)
            if not _second_of_repeated_time(nxt, self.tz):
                return nxt
            start = nxt + dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Once:
    """A single date-time."""

    at: dt.datetime  # aware, UTC

    def next_after(self, after: dt.datetime) -> dt.datetime | None:
        return self.at if self.at > after else None


Schedule = Cron | Once


def _second_of_repeated_time(moment: dt.datetime, tz: ZoneInfo) -> bool:
    """True for the second pass of a wall-clock time the fall-back transition repeats."""
    local = moment.astimezone(tz).replace(tzinfo=None)
    first = local.replace(tzinfo=tz, fold=0)
    second = local.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return False
    return moment.timestamp() == second.timestamp() and first.timestamp() != second.timestamp()


def parse_cron(expression: str, tz: ZoneInfo) -> Cron:
    """Parse a crontab expression (5 fields, names allowed, @daily-style macros)."""
    text = " ".join(expression.split())
    text = _MACROS.get(text.lower(), text)
    fields = text.split(" ")
    if len(fields) != 5:
        raise ScheduleError(
            f"a cron expression has 5 fields (minute hour day month weekday), got {len(fields)}"
        )
    minute, hour, day, month, weekday = fields
    days = crontab_days_of_week(weekday)
    try:
        if day not in ("*", "?") and days is not None:
            # crontab: day-of-month OR day-of-week when both are restricted
            triggers: tuple[CronTrigger, ...] = (
                CronTrigger(minute=minute, hour=hour, day=day, month=month, timezone=tz),
                CronTrigger(
                    minute=minute,
                    hour=hour,
                    month=month,
                    day_of_week=_apscheduler_dow(days),
                    timezone=tz,
                ),
            )
        else:
            triggers = (
                CronTrigger(
                    minute=minute,
                    hour=hour,
                    day="*" if day == "?" else day,
                    month=month,
                    day_of_week=_apscheduler_dow(days),
                    timezone=tz,
                ),
            )
    except ValueError as exc:
        reason = str(exc).removeprefix("Error validating expression ")
        raise ScheduleError(f"invalid cron expression {text!r}: {reason}") from None
    return Cron(text, tz, triggers)


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_datetime(value: str | dt.datetime, tz: ZoneInfo) -> Once:
    """An ISO date-time; a naive one is local time in ``tz``."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = value.strip()
        if _DATE_ONLY.match(text):
            raise ScheduleError(f"{text!r} has no time of day; write e.g. {text}T08:30")
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ScheduleError(
                f"{text!r} is neither a date-time (2026-12-01T08:30) nor a cron expression"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return Once(moment.astimezone(dt.UTC))


def looks_like_cron(text: str) -> bool:
    text = text.strip()
    return text.startswith("@") or len(text.split()) >= 3


def parse_when(value: str | dt.datetime | dt.date, tz: ZoneInfo) -> Schedule:
    """``when`` of a plan item → a schedule; raises ScheduleError with a readable reason."""
    if isinstance(value, dt.datetime):
        return parse_datetime(value, tz)
    if isinstance(value, dt.date):
        raise ScheduleError(f"{value.isoformat()} has no time of day; write e.g. {value}T08:30")
    if not isinstance(value, str) or not value.strip():
        raise ScheduleError("empty; give a date-time (2026-12-01T08:30) or a cron expression")
    if looks_like_cron(value):
        return parse_cron(value, tz)
    return parse_datetime(value, tz)


def canonical_when(value: str | dt.datetime | dt.date) -> str:
    """How ``when`` is stored: the text as written (a YAML date-time back to ISO text)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return " ".join(str(value).split())


def occurrences_between(
    schedule: Schedule, after: dt.datetime, until: dt.datetime, *, limit: int = 10_000
) -> list[dt.datetime]:
    """Occurrences in (after, until], oldest first, as UTC datetimes."""
    found: list[dt.datetime] = []
    for moment in iter_occurrences(schedule, after):
        if moment > until or len(found) >= limit:
            break
        found.append(moment)
    return found


def iter_occurrences(schedule: Schedule, after: dt.datetime) -> Iterator[dt.datetime]:
    """Occurrences strictly after ``after``, oldest first (endless for most cron schedules)."""
    current = after
    while True:
        nxt = schedule.next_after(current)
        if nxt is None:
            return
        yield nxt
        current = nxt


def next_occurrences(schedule: Schedule, after: dt.datetime, count: int) -> list[dt.datetime]:
    result: list[dt.datetime] = []
    for moment in iter_occurrences(schedule, after):
        result.append(moment)
        if len(result) >= count:
            break
    return result


def is_occurrence(schedule: Schedule, moment: dt.datetime) -> bool:
    """Whether ``moment`` is exactly one of the schedule's occurrences.

    Searched from a few hours before: a time skipped by a DST gap is due after the gap,
    which a search starting just before ``moment`` would not find.
    """
    for found in iter_occurrences(schedule, moment - dt.timedelta(hours=3)):
        if found >= moment:
            return found == moment
    return False


def smallest_gap(schedule: Schedule, after: dt.datetime, samples: int = 50) -> dt.timedelta | None:
    """The shortest time between consecutive occurrences among the next ``samples``."""
    moments = next_occurrences(schedule, after, samples)
    gaps = [b - a for a, b in itertools.pairwise(moments)]
    return min(gaps) if gaps else None
