"""Seeded random activity over several months, for checking rollups against raw figures.

Times cluster around local month boundaries (where a wrong time zone or an off-by-one in the
rollups would show) and include the reference "today"; points come in small steps so that
leaderboard ties (and their tie-breaks) are common.
"""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Answer,
    Delivery,
    Discussion,
    DiscussionParticipant,
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

TZ = ZoneInfo("Asia/Shanghai")
DEPARTMENTS = ["办公室", "宣传科", "业务一科", None]
KINDS = ["checkin", "material", "daily_quiz", "challenge", "live_quiz", "adjust"]


class History:
    """Writes random rows between ``first`` (a local day) and ``now``."""

    def __init__(self, seed: int, first: dt.date, now: dt.datetime) -> None:
        self.rng = random.Random(seed)
        self.start = dt.datetime.combine(first, dt.time.min, tzinfo=TZ).astimezone(dt.UTC)
        self.now = now
        self.serial = 0
        self.members: list[int] = []
        self.questions: list[tuple[int, int]] = []
        self.items: list[int] = []
        self.bank_id = 0

    def moment(self, first: dt.date | None = None, last: dt.date | None = None) -> dt.datetime:
        """A random instant; often within two hours of a local month start, or today."""
        rng = self.rng
        lo = self.start if first is None else _midnight(first)
        hi = self.now if last is None else min(self.now, _midnight(last + dt.timedelta(days=1)))
        roll = rng.random()
        if roll < 0.3:
            day = (lo + (hi - lo) * rng.random()).astimezone(TZ).date().replace(day=1)
            edge = _midnight(day) + dt.timedelta(minutes=rng.randint(-120, 120))
            if lo <= edge < hi:
                return edge
        if roll < 0.4 and first is None:
            today = _midnight(self.now.astimezone(TZ).date())
            return today + (self.now - today) * rng.random()
        return lo + (hi - lo) * rng.random()

    def next(self) -> int:
        self.serial += 1
        return self.serial

    async def setup(self, session: AsyncSession, members: int = 24) -> None:
        bank = await factories.bank(session, slug=f"h{self.next()}")
        self.bank_id = bank.id
        self.questions = [
            (q.id, q.current_version_id)
            for q in await session.scalars(select(Question).where(Question.bank_id == bank.id))
        ]
        for i in range(members):
            dept = DEPARTMENTS[i % len(DEPARTMENTS)]
            row = await factories.member(session, f"成员{i:02d}", dept=dept, active=i % 9 != 8)
            self.members.append(row.id)
        for i in range(3):
            item = PlanItem(slug=f"hp{self.next()}", title=f"材料{i}", when="0 9 * * *")
            session.add(item)
            await session.flush()
            self.items.append(item.id)

    async def write(
        self,
        session: AsyncSession,
        rows: int = 400,
        first: dt.date | None = None,
        last: dt.date | None = None,
    ) -> None:
        """About ``rows`` rows of every large kind, fewer of the rare ones."""
        rng = self.rng
        members = self.members
        ledger = []
        for _ in range(rows):
            when = self.moment(first, last)
            kind = rng.choice(KINDS)
            ledger.append(
                LedgerEntry(
                    member_id=rng.choice(members),
                    delta=rng.choice([-2, -1]) if kind == "adjust" else rng.choice([1, 1, 2, 3]),
                    kind=kind,
                    reference=f"r{self.next()}",
                    local_day=when.astimezone(TZ).date(),
                    created_at=when,
                )
            )
        session.add_all(ledger)
        for _ in range(rows):
            question_id, version_id = rng.choice(self.questions)
            session.add(
                Answer(
                    member_id=rng.choice(members),
                    question_id=question_id,
                    question_version_id=version_id,
                    mode=rng.choice(["daily", "weekly", "challenge"]),
                    given=["A"],
                    correct=rng.random() < 0.7,
                    answered_at=self.moment(first, last),
                )
            )
        for _ in range(rows // 4):
            when = self.moment(first, last)
            session.add(
                MaterialRead(
                    member_id=rng.choice(members),
                    plan_item_id=rng.choice(self.items),
                    occurrence=when - dt.timedelta(minutes=self.next()),
                    read_at=when,
                )
            )
            if rng.random() < 0.3:
                session.add(
                    Delivery(
                        plan_item_id=rng.choice(self.items),
                        occurrence=when,
                        chat_id=-100 - self.next(),
                        status="sent",
                        sent_at=when,
                    )
                )
        for _ in range(rows // 4):
            when = self.moment(first, last)
            finished = rng.random() < 0.8
            session.add(
                QuizAttempt(
                    member_id=rng.choice(members),
                    mode="daily",
                    bank_id=self.bank_id,
                    period_key=f"k{self.next()}",
                    status="finished" if finished else "active",
                    total=5,
                    created_at=when,
                    finished_at=when if finished else None,
                )
            )
        await session.flush()
        for _ in range(max(1, rows // 100)):
            when = self.moment(first, last)
            live = LiveRound(
                chat_id=-1, bank_id=self.bank_id, n_questions=2, seconds=30,
                status="finished", created_at=when,
            )  # fmt: skip
            session.add(live)
            await session.flush()
            for position in range(2):
                question_id, version_id = rng.choice(self.questions)
                lq = LiveQuestion(
                    round_id=live.id, position=position, question_version_id=version_id
                )
                session.add(lq)
                await session.flush()
                for member_id in rng.sample(members, 6):
                    session.add(
                        Answer(
                            member_id=member_id,
                            question_id=question_id,
                            question_version_id=version_id,
                            live_question_id=lq.id,
                            mode="live",
                            given=["A"],
                            correct=rng.random() < 0.6,
                            answered_at=min(
                                self.now, when + dt.timedelta(seconds=rng.randint(0, 7200))
                            ),
                        )
                    )
            opened = self.moment(first, last)
            study = StudySession(
                code=f"s{self.next()}",
                title="集中学习",
                audience=rng.choice([[], ["宣传科"], ["办公室", "业务一科"]]),
                opened_at=opened,
            )
            topic = Discussion(
                chat_id=-1, message_id=self.next(), title="讨论", opened_at=opened,
                closes_at=opened + dt.timedelta(days=1),
            )  # fmt: skip
            session.add_all([study, topic])
            await session.flush()
            for member_id in rng.sample(members, 8):
                # Check-ins count on the day the session opened, even a day later.
                session.add(
                    SessionCheckin(
                        session_id=study.id,
                        member_id=member_id,
                        checked_in_at=opened + dt.timedelta(hours=rng.randint(0, 30)),
                    )
                )
            for member_id in rng.sample(members, 5):
                session.add(
                    DiscussionParticipant(
                        discussion_id=topic.id,
                        member_id=member_id,
                        counted_at=self.moment(first, last),
                    )
                )
            for member_id in rng.sample(members, 3):
                session.add(
                    Reflection(
                        member_id=member_id,
                        message_id=self.next(),
                        text="心得" * 60,
                        created_at=self.moment(first, last),
                    )
                )
        await session.flush()


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=TZ).astimezone(dt.UTC)
