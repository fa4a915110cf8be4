"""Read confirmations: once per member and occurrence, points under the daily cap; /study."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

from sqlalchemy import func, select

from bot.db.models import LedgerEntry, MaterialRead, PlanItem
from bot.materials.plan import parse_plan, store_plan
from bot.materials.reads import confirm_read, item_content, item_quiz, study_list
from tests import factories
from tests.conftest import make_config

LOADED = dt.datetime(2026, 11, 20, 0, 0, tzinfo=dt.UTC)
DUE = dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.UTC)  # 08:30 in Asia/Shanghai
NOW = DUE + dt.timedelta(hours=2)

PLAN = """\
items:
  - {id: a, title: A, body: one, when: "2026-12-01T08:30", points: 2}
  - {id: b, title: B, body: two, when: "2026-12-01T08:30"}
  - {id: c, title: C, body: three, when: "2026-12-01T08:30", quiz: {bank: sample, questions: 3}}
  - {id: office, title: Office only, body: four, when: "2026-12-01T09:00", audience: [办公室]}
  - {id: press, title: Press only, body: five, when: "2026-12-01T09:00", audience: [宣传科]}
  - {id: weekly, title: Weekly, body: six, when: "0 9 * * mon"}
  - {id: future, title: Future, body: seven, when: "2026-12-05T09:00"}
"""


async def setup(db, database_url: str, **overrides):  # type: ignore[no-untyped-def]
    config = make_config(database_url, **overrides)
    async with db.begin() as session:
        member = await factories.member(session, "张三", dept="办公室", telegram_id=101)
        parsed = parse_plan(
            textwrap.dedent(PLAN), name="plan.yaml", config=config, base_dir=Path("."), now=LOADED
        )
        await store_plan(session, parsed, source="cli", now=LOADED)
        ids = {r.slug: r.id for r in await session.scalars(select(PlanItem))}
    return config, member.id, ids


async def test_pressing_done_twice_gives_points_once(db, database_url: str) -> None:
    config, member_id, ids = await setup(db, database_url)
    async with db.begin() as session:
        first = await confirm_read(
            session, config, member_id=member_id, item_id=ids["a"], occurrence=DUE, now=NOW
        )
    async with db.begin() as session:
        second = await confirm_read(
            session, config, member_id=member_id, item_id=ids["a"], occurrence=DUE, now=NOW
        )
    assert (first.status, first.points) == ("read", 2)
    assert (second.status, second.points) == ("already", 0)
    async with db() as session:
        reads = await session.scalar(select(func.count(MaterialRead.id)))
        ledger = list(
            await session.execute(
                select(LedgerEntry.kind, LedgerEntry.reference, LedgerEntry.delta)
            )
        )
    assert reads == 1
    assert [tuple(r) for r in ledger] == [
        ("material", f"read:{ids['a']}:{int(DUE.timestamp())}", 2)
    ]


async def test_daily_cap(db, database_url: str) -> None:
    config, member_id, ids = await setup(
        db, database_url, points={"material": {"points": 1, "daily_cap": 3}}
    )
    results = []
    for slug in ("a", "b", "c"):
        async with db.begin() as session:
            results.append(
                await confirm_read(
                    session, config, member_id=member_id, item_id=ids[slug], occurrence=DUE, now=NOW
                )
            )
    assert [(r.status, r.points, r.capped) for r in results] == [
        ("read", 2, False),
        ("read", 1, False),
        ("read", 0, True),
    ]
    async with db() as session:
        assert await session.scalar(select(func.count(MaterialRead.id))) == 3
        assert await session.scalar(select(func.sum(LedgerEntry.delta))) == 3


async def test_refused_confirmations(db, database_url: str) -> None:
    config, member_id, ids = await setup(db, database_url)

    async def press(item_id: int, occurrence: dt.datetime, now: dt.datetime = NOW) -> str:
        async with db.begin() as session:
            outcome = await confirm_read(
                session,
                config,
                member_id=member_id,
                item_id=item_id,
                occurrence=occurrence,
                now=now,
            )
        return outcome.status

    assert await press(ids["a"], DUE + dt.timedelta(minutes=1)) == "unknown"  # not an occurrence
    assert await press(9999, DUE) == "unknown"
    future = dt.datetime(2026, 12, 5, 1, 0, tzinfo=dt.UTC)
    assert await press(ids["future"], future) == "not_yet"
    assert await press(ids["a"], DUE, now=DUE + dt.timedelta(days=40)) == "expired"
    async with db() as session:
        assert await session.scalar(select(func.count(MaterialRead.id))) == 0
        assert await session.scalar(select(func.count(LedgerEntry.id))) == 0


async def test_study_list_shows_the_members_items_with_state(db, database_url: str) -> None:
    config, member_id, ids = await setup(db, database_url)
    async with db.begin() as session:
        await confirm_read(
            session, config, member_id=member_id, item_id=ids["b"], occurrence=DUE, now=NOW
        )
    async with db() as session:
        entries = await study_list(session, config, member_id, now=NOW)
    shown = [(e.slug, e.read) for e in entries]
    assert ("press", False) not in shown and ("future", False) not in shown
    assert set(shown) == {
        ("a", False),
        ("b", True),
        ("c", False),
        ("office", False),
        ("weekly", False),
    }
    assert [e.occurrence for e in entries] == sorted((e.occurrence for e in entries), reverse=True)
    weekly = next(e for e in entries if e.slug == "weekly")
    assert weekly.occurrence == dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)
    assert next(e for e in entries if e.slug == "c").has_quiz


async def test_item_content_and_quiz(db, database_url: str) -> None:
    config, _member_id, ids = await setup(db, database_url)
    async with db() as session:
        content = await item_content(session, config, ids["c"], DUE, now=NOW)
        assert content is not None and content.title == "C" and content.quiz_bank == "sample"
        moved = DUE + dt.timedelta(seconds=1)
        assert await item_content(session, config, ids["c"], moved, now=NOW) is None
        assert await item_quiz(session, ids["c"]) == ("sample", 3)
        assert await item_quiz(session, ids["a"]) is None
