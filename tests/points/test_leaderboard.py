"""Leaderboards: order and tie-breaks, own rank, departments — on the real database."""

from __future__ import annotations

import datetime as dt

from bot.core.periods import Period, custom_period
from bot.db.models import Answer, LedgerEntry
from bot.points.leaderboard import (
    department_leaderboard,
    member_line,
    member_rank,
    person_leaderboard,
)
from tests import factories

NOV = Period(dt.date(2026, 11, 1), dt.date(2026, 11, 30), "2026-11", "2026-11")


def at(day: int, hour: int = 4) -> dt.datetime:
    """A UTC time on a November 2026 day (04:00 UTC is noon in Shanghai)."""
    return dt.datetime(2026, 11, day, hour, 0, tzinfo=dt.UTC)


def ledger(member_id: int, delta: int, when: dt.datetime, ref: str, kind: str = "daily_quiz"):
    local = (when + dt.timedelta(hours=8)).date()
    return LedgerEntry(
        member_id=member_id,
        delta=delta,
        kind=kind,
        reference=ref,
        local_day=local,
        created_at=when,
    )


def answers(member_id: int, question, n: int, correct: int, when: dt.datetime) -> list[Answer]:
    return [
        Answer(
            member_id=member_id,
            question_id=question.id,
            question_version_id=question.current_version_id,
            mode="daily",
            given=["A"],
            correct=i < correct,
            answered_at=when,
        )
        for i in range(n)
    ]


async def seed(session) -> dict[str, int]:
    from sqlalchemy import select

    from bot.db.models import Question

    bank = await factories.bank(session)
    question = (await session.scalars(select(Question).where(Question.bank_id == bank.id))).first()
    m = {}
    m["A"] = (await factories.member(session, "张三", dept="办公室")).id
    m["B"] = (await factories.member(session, "李四", dept="办公室")).id
    m["C"] = (await factories.member(session, "王五", dept="宣传科")).id
    m["D"] = (await factories.member(session, "赵六", dept="宣传科")).id
    m["E"] = (await factories.member(session, "孙七", dept=None)).id
    m["F"] = (await factories.member(session, "周八", dept="业务一科")).id
    m["G"] = (await factories.member(session, "吴九", dept="办公室", active=False)).id
    rows = [
        ledger(m["A"], 6, at(3), "a1"),
        ledger(m["A"], 4, at(5), "a2"),
        ledger(m["B"], 10, at(6), "b1"),
        ledger(m["C"], 12, at(7), "c1"),
        ledger(m["C"], -2, at(8), "c2", kind="adjust"),
        ledger(m["E"], 3, at(9), "e1"),
        ledger(m["F"], 1, at(9), "f1", kind="checkin"),
        ledger(m["G"], 50, at(9), "g1"),
        # Outside November (local time): 2026-10-31 23:00 Shanghai, 2026-12-01 00:30 Shanghai.
        ledger(m["D"], 99, dt.datetime(2026, 10, 31, 15, 0, tzinfo=dt.UTC), "d-oct"),
        ledger(m["A"], 99, dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC), "a-dec"),
    ]
    session.add_all(rows)
    session.add_all(answers(m["A"], question, 5, 4, at(3)))
    session.add_all(answers(m["B"], question, 5, 4, at(6)))
    session.add_all(answers(m["C"], question, 4, 4, at(7)))
    session.add_all(answers(m["G"], question, 5, 5, at(9)))
    await session.flush()
    return m


async def test_person_order_and_tie_breaks(db, config) -> None:
    async with db.begin() as session:
        m = await seed(session)
    async with db() as session:
        rows = await person_leaderboard(session, config, NOV)
    # C, A, B all have 10: C has the best accuracy; A and B tie on it, A got there first.
    assert [(r.rank, r.member_id, r.points) for r in rows] == [
        (1, m["C"], 10),
        (2, m["A"], 10),
        (3, m["B"], 10),
        (4, m["E"], 3),
        (5, m["F"], 1),
    ]
    assert rows[0].accuracy == 1.0
    assert rows[1].accuracy == 0.8
    assert rows[3].accuracy is None
    assert rows[3].department is None
    assert rows[0].department == "宣传科"


async def test_limit_and_department_filter(db, config) -> None:
    async with db.begin() as session:
        m = await seed(session)
    async with db() as session:
        top2 = await person_leaderboard(session, config, NOV, limit=2)
        office = await person_leaderboard(session, config, NOV, department="办公室")
        nobody = await person_leaderboard(session, config, NOV, department="不存在")
    assert [r.member_id for r in top2] == [m["C"], m["A"]]
    assert [(r.rank, r.member_id) for r in office] == [(1, m["A"]), (2, m["B"])]
    assert nobody == []


async def test_member_rank(db, config) -> None:
    async with db.begin() as session:
        m = await seed(session)
    async with db() as session:
        assert await member_rank(session, config, m["B"], NOV) == (3, 5)
        assert await member_rank(session, config, m["C"], NOV) == (1, 5)
        assert await member_rank(session, config, m["F"], NOV) == (5, 5)
        # Never took part in November; inactive members are not ranked.
        assert await member_rank(session, config, m["D"], NOV) == (None, 5)
        assert await member_rank(session, config, m["G"], NOV) == (None, 5)
        line = await member_line(session, config, m["B"], NOV)
        assert line is not None and (line.rank, line.points, line.accuracy) == (3, 10, 0.8)
        assert await member_line(session, config, m["D"], NOV) is None


async def test_empty_period(db, config) -> None:
    async with db.begin() as session:
        m = await seed(session)
    empty = custom_period(dt.date(2025, 1, 1), dt.date(2025, 1, 31))
    async with db() as session:
        assert await person_leaderboard(session, config, empty) == []
        assert await member_rank(session, config, m["A"], empty) == (None, 0)
        depts = await department_leaderboard(session, config, empty)
    assert all(d.points == 0 and d.participants == 0 for d in depts)


async def test_department_leaderboard(db, config) -> None:
    async with db.begin() as session:
        await seed(session)
    async with db() as session:
        rows = await department_leaderboard(session, config, NOV)
    summary = [(r.rank, r.name, r.roster, r.points, r.participants, r.average_points) for r in rows]
    # 办公室: A and B (G left); 宣传科: C and D; 业务一科: F, whose check-in alone is no
    # participation. The member without a department is not ranked among departments.
    assert summary == [
        (1, "办公室", 2, 20, 2, 10.0),
        (2, "宣传科", 2, 10, 1, 5.0),
        (3, "业务一科", 1, 1, 0, 1.0),
    ]
    assert rows[1].participation_rate == 0.5
    assert rows[2].participation_rate == 0.0
