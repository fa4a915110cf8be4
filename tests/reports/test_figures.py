"""Summary figures against the hand-computed values of ``tests/reports/dataset.py``."""

from __future__ import annotations

import pytest

from bot.points.leaderboard import department_leaderboard, member_rank, person_leaderboard
from bot.reports.figures import compute_figures, trend_buckets
from tests.reports import dataset
from tests.reports.dataset import EMPTY, NOV


@pytest.fixture
async def figures(db, config):
    async with db.begin() as session:
        ids = await dataset.build(session)
    async with db() as session:
        return await compute_figures(session, config, NOV), ids


async def test_unit_figures(figures) -> None:
    f, _ = figures
    u = f.unit
    assert f.materials_pushed == 2
    assert u.reads == 4
    assert (u.quiz_attempts, u.live_participations, u.quizzes_taken) == (3, 2, 5)
    assert (u.answers, u.correct, u.accuracy) == (20, 15, 0.75)
    assert f.sessions_held == 2
    assert (u.session_attendance, u.roster_attendance, u.expected_attendance) == (5, 4, 8)
    assert u.attendance_rate == 0.5
    assert (f.discussions_held, u.discussion_joins) == (2, 2)
    assert u.reflections == 2
    assert f.live_rounds == 1
    assert f.online_activities == 5
    assert (u.roster, u.participants) == (6, 4)
    assert u.participation_rate == pytest.approx(4 / 6)
    assert u.points == 39
    assert u.participations == 18


async def test_department_figures(figures) -> None:
    f, _ = figures
    by_name = {d.name: d.figures for d in f.departments}
    assert list(by_name) == ["办公室", "宣传科", "业务一科", None]
    office = by_name["办公室"]
    assert (office.roster, office.participants, office.reads) == (2, 2, 3)
    assert (office.quizzes_taken, office.answers, office.correct) == (4, 17, 12)
    assert (office.session_attendance, office.attendance_rate) == (3, 1.0)
    assert (office.points, office.roster_points, office.average_points) == (26, 19, 9.5)
    publicity = by_name["宣传科"]
    assert (publicity.roster, publicity.participants, publicity.quizzes_taken) == (2, 1, 1)
    assert (publicity.session_attendance, publicity.expected_attendance) == (2, 4)
    assert publicity.attendance_rate == 0.5
    assert publicity.points == 9
    business = by_name["业务一科"]
    assert (business.roster, business.participants, business.points) == (1, 0, 1)
    assert business.participation_rate == 0.0
    none = by_name[None]
    assert (none.roster, none.participants, none.reads, none.reflections, none.points) == (
        1,
        1,
        1,
        1,
        3,
    )
    # Departments add up to the unit.
    for field in ("roster", "participants", "reads", "answers", "points", "expected_attendance"):
        assert sum(getattr(d.figures, field) for d in f.departments) == getattr(f.unit, field)


async def test_rankings_agree_with_leaderboards(figures, db, config) -> None:
    f, m = figures
    assert [(r.rank, r.member_id, r.points) for r in f.top] == [
        (1, m["A"], 14),
        (2, m["C"], 9),
        (3, m["B"], 5),
        (4, m["E"], 3),
        (5, m["F"], 1),
    ]
    assert [(d.rank, d.name, d.average_points) for d in f.department_ranking] == [
        (1, "办公室", 9.5),
        (2, "宣传科", 4.5),
        (3, "业务一科", 1.0),
    ]
    async with db() as session:
        assert await person_leaderboard(session, config, NOV, limit=10) == f.top
        assert await department_leaderboard(session, config, NOV) == f.department_ranking
        assert await member_rank(session, config, m["B"], NOV) == (3, 5)
    people = {p.member_id: p for p in f.people}
    assert people[m["D"]].rank is None and not people[m["D"]].took_part
    assert not people[m["F"]].took_part  # the check-in point alone
    assert people[m["E"]].took_part and people[m["E"]].department is None
    assert not people[m["G"]].active and people[m["G"]].rank is None


async def test_questions_and_weak_spots(figures) -> None:
    f, _ = figures
    assert [(q.qid, q.answers, q.correct) for q in f.weak_questions] == [
        ("m1", 5, 2),
        ("s2", 5, 4),
    ]
    by_qid = {q.qid: (q.answers, q.correct) for q in f.questions}
    assert by_qid == {"s1": (4, 4), "s2": (5, 4), "m1": (5, 2), "j1": (3, 3), "j2": (3, 2)}
    assert f.weak_questions[0].text.startswith("下列属于国家秘密密级")


async def test_sessions_and_trend(figures) -> None:
    f, _ = figures
    assert [(s.title, s.attendance, s.expected) for s in f.sessions] == [
        ("集中学习：党章", 4, 6),
        ("专题研讨", 1, 2),
    ]
    assert f.trend_unit == "week"
    trend = {t.label: t for t in f.trend}
    assert list(trend) == ["2026-W44", "2026-W45", "2026-W46", "2026-W47", "2026-W48", "2026-W49"]
    assert [
        (t.participants, t.participations, t.answers, t.correct, t.points) for t in f.trend
    ] == [
        (0, 0, 0, 0, 0),
        (4, 5, 12, 8, 12),
        (3, 8, 8, 7, 19),
        (3, 5, 0, 0, 8),
        (0, 0, 0, 0, 0),
        (0, 0, 0, 0, 0),
    ]
    assert sum(t.points for t in f.trend) == f.unit.points
    assert sum(t.participations for t in f.trend) == f.unit.participations


async def test_activity_log(figures) -> None:
    f, _ = figures
    kinds = [e.activity for e in f.activity_log]
    assert kinds.count("answer") == 20
    assert kinds.count("read") == 4
    assert kinds.count("checkin") == 5
    assert kinds.count("discussion") == 2
    assert kinds.count("reflection") == 2
    assert not f.activity_log_truncated
    assert f.activity_log == sorted(f.activity_log, key=lambda e: e.at, reverse=True)


async def test_empty_period(db, config) -> None:
    async with db.begin() as session:
        await dataset.build(session)
    async with db() as session:
        f = await compute_figures(session, config, EMPTY)
    assert f.is_empty
    assert f.unit.roster == 6 and f.unit.participants == 0
    assert f.unit.participation_rate == 0.0
    assert f.unit.accuracy is None and f.unit.attendance_rate is None
    assert f.materials_pushed == f.sessions_held == f.online_activities == 0
    assert f.top == [] and f.weak_questions == [] and f.activity_log == []
    assert [d.rank for d in f.department_ranking] == [1, 2, 3]


async def test_empty_database(db, config) -> None:
    async with db() as session:
        f = await compute_figures(session, config, NOV)
    assert f.is_empty and f.unit.roster == 0 and f.unit.participation_rate is None
    assert f.departments == [] and f.department_ranking == []


def test_trend_buckets() -> None:
    import datetime as dt

    from bot.core.periods import parse_period

    unit, buckets = trend_buckets(parse_period("2026", dt.date(2026, 5, 1)))
    assert (
        unit == "month"
        and len(buckets) == 12
        and buckets[1]
        == (
            "2026-02",
            dt.date(2026, 2, 1),
            dt.date(2026, 2, 28),
        )
    )
    unit, buckets = trend_buckets(parse_period("2026-Q3", dt.date(2026, 5, 1)))
    assert unit == "week" and buckets[0][1] == dt.date(2026, 7, 1)
    assert buckets[-1][2] == dt.date(2026, 9, 30)
    unit, buckets = trend_buckets(parse_period("all", dt.date(2026, 5, 1)))
    assert unit == "year" and buckets[-1][0] == "2026"
