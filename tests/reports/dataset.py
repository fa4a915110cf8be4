"""A small fixed dataset for November 2026 whose figures are worked out by hand below.

Members (roster = active members: A B C D E F = 6):
  A 张三 办公室, B 李四 办公室, C 王五 宣传科, D 赵六 宣传科 (never takes part),
  E 孙七 (no department), F 周八 业务一科 (only the daily check-in point: not a participant),
  G 吴九 办公室, removed from the roster (inactive): their activity counts in 人次, not in rates.

Expected for 2026-11 (Asia/Shanghai):
  materials pushed 2 (P1@11-02, P2@11-10; a failed push and an October push do not count)
  reads 4 (A×2, B, E); quizzes taken 5 = finished attempts 3 (A, B, G) + live 2 (A, C)
  answers 20, correct 15 → 75%; sessions 2, attendance 5 人次 (roster 4 of expected 8 → 50%)
  discussions 2, joins 2 (A, C); reflections 2 (A, E); live rounds 1; online activities 5
  participants 4 (A B C E) of 6 → 66.7%; points 39 (A14 B5 C9 E3 F1 G7); 人次 total 18
  weak questions (≥5 answers): m1 2/5, s2 4/5
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.periods import Period
from bot.db.models import (
    Answer,
    Delivery,
    Discussion,
    DiscussionParticipant,
    DiscussionReply,
    LedgerEntry,
    LiveQuestion,
    LiveRound,
    MaterialRead,
    PlanItem,
    Question,
    QuizAttempt,
    Reflection,
    SessionCheckin,
    StudySession,
)
from tests import factories

NOV = Period(dt.date(2026, 11, 1), dt.date(2026, 11, 30), "2026-11", "2026-11")
EMPTY = Period(dt.date(2025, 1, 1), dt.date(2025, 1, 31), "2025-01", "2025-01")
GROUP = -100123


def at(month: int, day: int, hour: int = 4) -> dt.datetime:
    """A UTC time (04:00 UTC is noon in Shanghai)."""
    return dt.datetime(2026, month, day, hour, 0, tzinfo=dt.UTC)


def nov(day: int, hour: int = 4) -> dt.datetime:
    return at(11, day, hour)


async def build(session: AsyncSession) -> dict[str, int]:
    """Write the dataset; returns member ids by letter."""
    bank = await factories.bank(session)
    qs = {
        q.qid: q for q in await session.scalars(select(Question).where(Question.bank_id == bank.id))
    }
    m: dict[str, int] = {}
    m["A"] = (await factories.member(session, "张三", dept="办公室", telegram_id=1001)).id
    m["B"] = (await factories.member(session, "李四", dept="办公室", telegram_id=1002)).id
    m["C"] = (await factories.member(session, "王五", dept="宣传科", telegram_id=1003)).id
    m["D"] = (await factories.member(session, "赵六", dept="宣传科")).id
    m["E"] = (await factories.member(session, "孙七", dept=None, telegram_id=1005)).id
    m["F"] = (await factories.member(session, "周八", dept="业务一科", telegram_id=1006)).id
    m["G"] = (await factories.member(session, "吴九", dept="办公室", active=False)).id

    def ledger(who: str, delta: int, when: dt.datetime, kind: str, ref: str) -> LedgerEntry:
        return LedgerEntry(
            member_id=m[who],
            delta=delta,
            kind=kind,
            reference=ref,
            local_day=(when + dt.timedelta(hours=8)).date(),
            created_at=when,
        )

    session.add_all(
        [
            ledger("A", 1, nov(3), "checkin", "2026-11-03"),
            ledger("A", 4, nov(3), "daily_quiz", "d-a"),
            ledger("A", 1, nov(2), "material", "p1"),
            ledger("A", 1, nov(10), "material", "p2"),
            ledger("A", 2, nov(12), "live_quiz", "r1"),
            ledger("A", 2, nov(15), "session", "s1"),
            ledger("A", 1, nov(18), "discussion", "t1"),
            ledger("A", 2, nov(21), "reflection", "n1"),
            ledger("B", 2, nov(6), "daily_quiz", "d-b"),
            ledger("B", 1, nov(3), "material", "p1"),
            ledger("B", 2, nov(15), "session", "s1"),
            ledger("C", 2, nov(7), "daily_quiz", "d-c"),
            ledger("C", 2, nov(12), "live_quiz", "r1"),
            ledger("C", 2, nov(15), "session", "s1"),
            ledger("C", 2, nov(20), "session", "s2"),
            ledger("C", 1, nov(19), "discussion", "t1"),
            ledger("E", 1, nov(4), "material", "p1"),
            ledger("E", 2, nov(22), "reflection", "n1"),
            ledger("F", 1, nov(9), "checkin", "2026-11-09"),
            ledger("G", 5, nov(9), "daily_quiz", "d-g"),
            ledger("G", 2, nov(15), "session", "s1"),
            ledger("D", 5, at(10, 20), "daily_quiz", "d-d-oct"),
            # 2026-12-01 00:30 in Shanghai: December.
            ledger("A", 9, dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC), "material", "dec"),
        ]
    )

    # Plan items, pushes and reads.
    p1 = PlanItem(slug="p1", title="学习材料一", when="2026-11-02T09:00")
    p2 = PlanItem(slug="p2", title="学习材料二", when="0 9 * * mon")
    session.add_all([p1, p2])
    await session.flush()
    session.add_all(
        [
            Delivery(plan_item_id=p1.id, occurrence=nov(2, 1), chat_id=1001, member_id=m["A"],
                     status="sent", sent_at=nov(2, 1)),
            Delivery(plan_item_id=p1.id, occurrence=nov(2, 1), chat_id=1002, member_id=m["B"],
                     status="sent", sent_at=nov(2, 1)),
            Delivery(plan_item_id=p1.id, occurrence=nov(2, 1), chat_id=GROUP, status="sent",
                     sent_at=nov(2, 1)),
            Delivery(plan_item_id=p2.id, occurrence=nov(10, 1), chat_id=1001, member_id=m["A"],
                     status="sent", sent_at=nov(10, 1)),
            Delivery(plan_item_id=p2.id, occurrence=nov(10, 1), chat_id=1003, member_id=m["C"],
                     status="failed"),
            Delivery(plan_item_id=p2.id, occurrence=nov(20, 1), chat_id=1001, member_id=m["A"],
                     status="failed"),
            Delivery(plan_item_id=p1.id, occurrence=at(10, 30, 1), chat_id=1003,
                     member_id=m["C"], status="sent", sent_at=at(10, 30, 1)),
        ]
    )  # fmt: skip
    session.add_all(
        [
            MaterialRead(member_id=m["A"], plan_item_id=p1.id, occurrence=nov(2, 1),
                         read_at=nov(2)),
            MaterialRead(member_id=m["A"], plan_item_id=p2.id, occurrence=nov(10, 1),
                         read_at=nov(10)),
            MaterialRead(member_id=m["B"], plan_item_id=p1.id, occurrence=nov(2, 1),
                         read_at=nov(3)),
            MaterialRead(member_id=m["E"], plan_item_id=p1.id, occurrence=nov(2, 1),
                         read_at=nov(4)),
            MaterialRead(member_id=m["C"], plan_item_id=p1.id, occurrence=at(10, 30, 1),
                         read_at=at(10, 30)),
        ]
    )  # fmt: skip

    # Private quizzes: each finished attempt answers s1 s2 m1 j1 j2.
    def answer(who: str, qid: str, ok: bool, when: dt.datetime, **extra: object) -> Answer:
        q = qs[qid]
        return Answer(
            member_id=m[who],
            question_id=q.id,
            question_version_id=q.current_version_id,
            given=["A"],
            correct=ok,
            answered_at=when,
            **extra,
        )

    plan = {
        "A": (nov(3), "finished", [True, True, False, True, True]),
        "B": (nov(6), "finished", [True, False, False, True, False]),
        "G": (nov(9), "finished", [True, True, True, True, True]),
        "C": (nov(7), "active", [True, True]),
    }
    for who, (when, status, results) in plan.items():
        session.add(
            QuizAttempt(
                member_id=m[who],
                mode="daily",
                bank_id=bank.id,
                period_key=when.date().isoformat(),
                status=status,
                total=5,
                correct_count=sum(results),
                created_at=when,
                finished_at=when if status == "finished" else None,
            )
        )
        for qid, ok in zip(["s1", "s2", "m1", "j1", "j2"], results, strict=False):
            session.add(answer(who, qid, ok, when, mode="daily"))
    # An attempt finished in October does not count.
    session.add(
        QuizAttempt(member_id=m["D"], mode="daily", period_key="2026-10-20", status="finished",
                    total=5, created_at=at(10, 20), finished_at=at(10, 20))
    )  # fmt: skip

    # One live round in November (questions m1, s2), one in October.
    r1 = LiveRound(chat_id=GROUP, bank_id=bank.id, n_questions=2, seconds=30,
                   status="finished", created_at=nov(12))  # fmt: skip
    r0 = LiveRound(chat_id=GROUP, bank_id=bank.id, n_questions=1, seconds=30,
                   status="finished", created_at=at(10, 12))  # fmt: skip
    session.add_all([r1, r0])
    await session.flush()
    lq1 = LiveQuestion(round_id=r1.id, position=0, question_version_id=qs["m1"].current_version_id)
    lq2 = LiveQuestion(round_id=r1.id, position=1, question_version_id=qs["s2"].current_version_id)
    session.add_all([lq1, lq2])
    await session.flush()
    session.add_all(
        [
            answer("A", "m1", False, nov(12), mode="live", live_question_id=lq1.id),
            answer("A", "s2", True, nov(12), mode="live", live_question_id=lq2.id),
            answer("C", "m1", True, nov(12), mode="live", live_question_id=lq1.id),
        ]
    )

    # Sessions: S1 for everyone, S2 for 宣传科, S0 in October.
    s1 = StudySession(code="s1", title="集中学习：党章", kind="集中学习", audience=[],
                      opened_at=nov(15))  # fmt: skip
    s2 = StudySession(code="s2", title="专题研讨", kind="专题研讨", audience=["宣传科"],
                      opened_at=nov(20))  # fmt: skip
    s0 = StudySession(code="s0", title="十月学习", opened_at=at(10, 20))
    session.add_all([s1, s2, s0])
    await session.flush()
    session.add_all(
        [SessionCheckin(session_id=s1.id, member_id=m[w], checked_in_at=nov(15))
         for w in ("A", "B", "C", "G")]
        + [
            SessionCheckin(session_id=s2.id, member_id=m["C"], checked_in_at=nov(20)),
            SessionCheckin(session_id=s0.id, member_id=m["D"], checked_in_at=at(10, 20)),
        ]
    )  # fmt: skip

    # Discussions: T1 joined by A and C (B's "+1" does not count), T2 without replies.
    t1 = Discussion(chat_id=GROUP, message_id=500, title="如何学好党章", opened_at=nov(18),
                    closes_at=nov(20))  # fmt: skip
    t2 = Discussion(chat_id=GROUP, message_id=600, title="作风建设", opened_at=nov(25),
                    closes_at=nov(26))  # fmt: skip
    session.add_all([t1, t2])
    await session.flush()
    ra = DiscussionReply(discussion_id=t1.id, member_id=m["A"], message_id=501,
                         text="认真学习党章，知行合一。", counts=True, created_at=nov(18))  # fmt: skip
    rc = DiscussionReply(discussion_id=t1.id, member_id=m["C"], message_id=502,
                         text="结合岗位实际，学以致用。", counts=True, created_at=nov(19))  # fmt: skip
    rb = DiscussionReply(discussion_id=t1.id, member_id=m["B"], message_id=503, text="+1",
                         counts=False, created_at=nov(19))  # fmt: skip
    session.add_all([ra, rc, rb])
    await session.flush()
    session.add_all(
        [
            DiscussionParticipant(discussion_id=t1.id, member_id=m["A"], reply_id=ra.id,
                                  counted_at=nov(18)),
            DiscussionParticipant(discussion_id=t1.id, member_id=m["C"], reply_id=rc.id,
                                  counted_at=nov(19)),
        ]
    )  # fmt: skip

    # Reflections: A and E in November; B's falls on 1 December local time.
    text = "学习心得：" + "认真学习、深刻领会、学以致用。" * 8
    session.add_all(
        [
            Reflection(member_id=m["A"], message_id=1, text=text, created_at=nov(21)),
            Reflection(member_id=m["E"], message_id=2, text=text, created_at=nov(22)),
            Reflection(member_id=m["B"], message_id=3, text=text,
                       created_at=dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC)),
        ]
    )  # fmt: skip
    await session.flush()
    return m
