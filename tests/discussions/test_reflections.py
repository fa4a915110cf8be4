"""Study reflections: minimum length, once per message, weekly cap, links, listing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from bot.db.models import (
    LedgerEntry,
    MaterialRead,
    PlanItem,
    Reflection,
    SessionCheckin,
    StudySession,
)
from bot.discussions import reflections as notes
from bot.points.ledger import total_points
from tests.conftest import make_config
from tests.discussions.conftest import People

WED = dt.datetime(2026, 11, 25, 4, 0, tzinfo=dt.UTC)  # Wednesday 12:00 in Shanghai
TEXT = "通过这次学习，我更加深刻地认识到保密工作的重要性。" * 5  # 125 characters


async def _submit(
    db: async_sessionmaker[AsyncSession],
    config: Config,
    member_id: int,
    message_id: int | None,
    text: str = TEXT,
    *,
    at: dt.datetime = WED,
    link: notes.Link | None = None,
) -> notes.ReflectionOutcome:
    async with db.begin() as session:
        return await notes.submit_reflection(
            session,
            config,
            member_id=member_id,
            message_id=message_id,
            text=text,
            now=at,
            link=link,
        )


async def _count(db: async_sessionmaker[AsyncSession]) -> int:
    async with db() as session:
        return int(await session.scalar(select(func.count(Reflection.id))) or 0)


async def test_a_valid_reflection_is_stored_with_points(
    db: async_sessionmaker[AsyncSession], config: Config, people: People
) -> None:
    outcome = await _submit(db, config, people.li, 10, "  \n" + TEXT + "\n  ")
    assert (outcome.status, outcome.points, outcome.capped) == ("stored", 2, False)
    assert outcome.length == len(TEXT)
    async with db() as session:
        row = await session.scalar(select(Reflection))
        assert row is not None
        assert (row.member_id, row.message_id, row.text) == (people.li, 10, TEXT)
        assert row.created_at == WED
        assert await total_points(session, people.li) == 2
        entry = await session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "reflection"))
    assert entry is not None and entry.reference == str(row.id)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "太短了",
        "学" * 99,
        " ".join("学" * 99),  # spaces between characters do not add length
        "学" * 99 + "\n\n\n\n\u200b\u3000",
    ],
)
async def test_a_short_reflection_is_refused_with_its_length(
    db: async_sessionmaker[AsyncSession], config: Config, people: People, text: str
) -> None:
    outcome = await _submit(db, config, people.li, 11, text)
    assert outcome.status == "too_short"
    assert outcome.min_chars == 100
    assert outcome.length == len(
        text.replace(" ", "").replace("\n", "").replace("\u200b", "").replace("\u3000", "")
    )
    assert await _count(db) == 0
    async with db() as session:
        assert await total_points(session, people.li) == 0


async def test_exactly_the_minimum_is_enough(
    db: async_sessionmaker[AsyncSession], config: Config, people: People
) -> None:
    assert (await _submit(db, config, people.li, 12, "学" * 100)).status == "stored"


async def test_a_redelivered_message_is_stored_once(
    db: async_sessionmaker[AsyncSession], config: Config, people: People
) -> None:
    assert (await _submit(db, config, people.li, 13)).status == "stored"
    again = await _submit(db, config, people.li, 13)
    assert (again.status, again.points) == ("duplicate", 0)
    assert await _count(db) == 1
    async with db() as session:
        assert await total_points(session, people.li) == 2


async def test_weekly_cap_limits_points_not_storage(
    db: async_sessionmaker[AsyncSession], config: Config, people: People
) -> None:
    first = await _submit(db, config, people.li, 20)
    second = await _submit(db, config, people.li, 21, at=WED + dt.timedelta(days=3))  # Sunday
    next_week = await _submit(db, config, people.li, 22, at=WED + dt.timedelta(days=5))  # Monday
    other = await _submit(db, config, people.wang, 23)
    assert [(o.status, o.points, o.capped) for o in (first, second, next_week, other)] == [
        ("stored", 2, False),
        ("stored", 0, True),
        ("stored", 2, False),
        ("stored", 2, False),
    ]
    assert await _count(db) == 4


async def test_weekly_cap_counts_reflections(
    db: async_sessionmaker[AsyncSession], database_url: str, people: People
) -> None:
    config = make_config(
        database_url, points={"reflection": {"points": 3, "min_chars": 5, "weekly_cap": 2}}
    )
    results = [await _submit(db, config, people.li, 30 + i, "五个字心得") for i in range(3)]
    assert [r.points for r in results] == [3, 3, 0]


async def _plan_item_and_session(
    db: async_sessionmaker[AsyncSession], member_id: int
) -> tuple[int, int]:
    async with db.begin() as session:
        item = PlanItem(slug="constitution", title="宪法学习材料", when="2026-11-20T09:00")
        study = StudySession(code="abc123", title="保密集中学习", opened_at=WED)
        session.add_all([item, study])
        await session.flush()
        session.add(
            MaterialRead(
                member_id=member_id,
                plan_item_id=item.id,
                occurrence=WED - dt.timedelta(days=2),
                read_at=WED - dt.timedelta(days=2),
            )
        )
        session.add(
            SessionCheckin(
                session_id=study.id, member_id=member_id, checked_in_at=WED - dt.timedelta(days=1)
            )
        )
        return item.id, study.id


async def test_links_to_a_material_or_session(
    db: async_sessionmaker[AsyncSession], config: Config, people: People
) -> None:
    item_id, session_id = await _plan_item_and_session(db, people.li)
    async with db() as session:
        links = await notes.recent_links(session, people.li, WED)
        assert links == [
            notes.Link("s", session_id, "保密集中学习"),
            notes.Link("m", item_id, "宪法学习材料"),
        ]
        assert await notes.recent_links(session, people.wang, WED) == []
        assert await notes.resolve_link(session, "m", 99999) is None
        assert await notes.resolve_link(session, "x", item_id) is None
    await _submit(db, config, people.li, 40, link=notes.Link("m", item_id, ""))
    await _submit(db, config, people.li, 41, link=notes.Link("s", session_id, ""))
    await _submit(db, config, people.li, 42, link=notes.Link("m", 99999, ""))  # gone: no link
    async with db() as session:
        rows = list(await session.scalars(select(Reflection).order_by(Reflection.message_id)))
        total, views = await notes.member_reflections(session, people.li)
    assert [(r.plan_item_id, r.session_id) for r in rows] == [
        (item_id, None),
        (None, session_id),
        (None, None),
    ]
    assert total == 3
    assert {v.about for v in views} == {"宪法学习材料", "保密集中学习", None}


async def test_member_reflections_lists_own_newest_first(
    db: async_sessionmaker[AsyncSession], config: Config, people: People
) -> None:
    for i in range(12):
        await _submit(
            db, config, people.li, 100 + i, f"第{i}篇：" + TEXT, at=WED + dt.timedelta(days=i)
        )
    await _submit(db, config, people.wang, 200)
    async with db() as session:
        total, views = await notes.member_reflections(session, people.li)
        empty_total, empty = await notes.member_reflections(session, people.zhao)
    assert total == 12 and len(views) == 10
    assert views[0].preview.startswith("第11篇") and views[0].preview.endswith("…")
    assert len(views[0].preview) == notes.PREVIEW
    # the award of each: one per ISO week (Monday 2026-11-30 starts a new one)
    assert [v.points for v in views] == [0, 0, 0, 0, 0, 0, 2, 0, 0, 0]
    assert (empty_total, empty) == (0, [])
