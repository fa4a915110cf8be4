"""Read confirmations ("已学习" / Done) and the member's list of recent study items.

A confirmation is one ``material_reads`` row per (member, item, occurrence) and one ledger
award with the reference ``read:<item>:<occurrence>``: pressing twice, on two copies of the
message, or after a restart gives the points once. Awards respect ``points.material.daily_cap``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.db.models import Department, MaterialRead, Member, PlanItem
from bot.db.types import utcnow
from bot.db.upsert import insert_or_ignore
from bot.materials.occurrences import ScheduleError, is_occurrence, occurrences_between, parse_when
from bot.materials.render import occurrence_key
from bot.points.ledger import Cap, award

READ_WINDOW = dt.timedelta(days=31)  # how long after its push an item can still be confirmed
STUDY_DAYS = 7  # /study shows today and the six days before


@dataclass(frozen=True)
class ReadOutcome:
    """status: read | already | unknown | not_yet | expired"""

    status: str
    points: int = 0
    capped: bool = False
    title: str | None = None


@dataclass(frozen=True)
class StudyEntry:
    item_id: int
    slug: str
    title: str
    occurrence: dt.datetime
    read: bool
    points: int
    has_quiz: bool


@dataclass(frozen=True)
class ItemContent:
    item_id: int
    title: str
    body: str
    url: str | None
    file: str | None
    points: int
    quiz_bank: str | None
    quiz_questions: int | None


def reference(item_id: int, occurrence: dt.datetime) -> str:
    return f"read:{item_id}:{occurrence_key(occurrence)}"


async def _valid_occurrence(
    session: AsyncSession, config: Config, item_id: int, occurrence: dt.datetime, now: dt.datetime
) -> tuple[PlanItem | None, str | None]:
    item = await session.get(PlanItem, item_id)
    if item is None:
        return None, "unknown"
    try:
        schedule = parse_when(item.when, config.tz)
    except ScheduleError:
        return None, "unknown"
    if not is_occurrence(schedule, occurrence):
        return None, "unknown"
    if occurrence > now:
        return None, "not_yet"
    if now - occurrence > READ_WINDOW:
        return None, "expired"
    return item, None


async def confirm_read(
    session: AsyncSession,
    config: Config,
    *,
    member_id: int,
    item_id: int,
    occurrence: dt.datetime,
    now: dt.datetime | None = None,
) -> ReadOutcome:
    """Record that ``member_id`` read this occurrence and award its points once."""
    now = now or utcnow()
    item, problem = await _valid_occurrence(session, config, item_id, occurrence, now)
    if item is None:
        return ReadOutcome(problem or "unknown")
    inserted = await insert_or_ignore(
        session,
        MaterialRead,
        {"member_id": member_id, "plan_item_id": item_id, "occurrence": occurrence, "read_at": now},
    )
    if inserted is None:
        return ReadOutcome("already", title=item.title)
    today = now.astimezone(config.tz).date()
    result = await award(
        session,
        member_id=member_id,
        kind="material",
        reference=reference(item_id, occurrence),
        points=item.points,
        tz=config.tz,
        cap=Cap(config.points.material.daily_cap, today, today),
        now=now,
    )
    return ReadOutcome("read", result.points, result.capped, item.title)


async def item_content(
    session: AsyncSession,
    config: Config,
    item_id: int,
    occurrence: dt.datetime,
    now: dt.datetime | None = None,
) -> ItemContent | None:
    """An item as pushed at ``occurrence`` (for /study's open button)."""
    item, _problem = await _valid_occurrence(session, config, item_id, occurrence, now or utcnow())
    if item is None:
        return None
    return ItemContent(
        item.id,
        item.title,
        item.body or "",
        item.url,
        item.file,
        item.points,
        item.quiz_bank,
        item.quiz_questions,
    )


async def item_quiz(session: AsyncSession, item_id: int) -> tuple[str, int] | None:
    """The quiz offered after reading an item: (bank id, number of questions)."""
    item = await session.get(PlanItem, item_id)
    if item is None or not item.quiz_bank:
        return None
    return item.quiz_bank, item.quiz_questions or 5


async def study_list(
    session: AsyncSession, config: Config, member_id: int, now: dt.datetime | None = None
) -> list[StudyEntry]:
    """Items of this member's audience (everyone, or their department) due today and in the
    last days, newest first. Items for a group are confirmed in the group."""
    now = now or utcnow()
    tz = config.tz
    first_day = now.astimezone(tz).date() - dt.timedelta(days=STUDY_DAYS - 1)
    since = dt.datetime.combine(first_day, dt.time(0), tz).astimezone(dt.UTC)
    dept = await session.scalar(
        select(Department.name)
        .join(Member, Member.department_id == Department.id)
        .where(Member.id == member_id)
    )
    entries: list[tuple[dt.datetime, PlanItem]] = []
    for item in await session.scalars(select(PlanItem).where(PlanItem.active.is_(True))):
        audience = list(item.audience or ["all"])
        if "all" not in audience and (dept is None or dept not in audience):
            continue
        try:
            schedule = parse_when(item.when, tz)
        except ScheduleError:
            continue
        for moment in occurrences_between(
            schedule, since - dt.timedelta(microseconds=1), now, limit=50
        ):
            entries.append((moment, item))
    read = {
        (row.plan_item_id, row.occurrence)
        for row in await session.execute(
            select(MaterialRead.plan_item_id, MaterialRead.occurrence).where(
                MaterialRead.member_id == member_id, MaterialRead.occurrence >= since
            )
        )
    }
    entries.sort(key=lambda pair: (pair[0], pair[1].id), reverse=True)
    return [
        StudyEntry(
            item.id,
            item.slug,
            item.title,
            moment,
            (item.id, moment) in read,
            item.points,
            bool(item.quiz_bank),
        )
        for moment, item in entries
    ]
