"""The wrong-answer notebook (错题本), scheduled by FSRS.

A question answered wrong enters the member's notebook as a new FSRS card, due at once.
From then on every answer to it is a review: wrong → ``Again``, right → ``Good``. A card
leaves the notebook (``active = False``) once its stability exceeds
``points.review.graduate_days``; a later mistake brings it back.

The scheduler works in days, not in Anki's minute-long learning steps: members review in
a chat a few times a week, so a card is due on a local day and `/review` asks every card
due by the end of today.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast
from zoneinfo import ZoneInfo

from fsrs import Card, Rating, Scheduler
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Question, ReviewCard
from bot.db.upsert import insert_ignoring

SCHEDULER = Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)

_cards = cast(Table, ReviewCard.__table__)


@dataclass(frozen=True)
class CardState:
    card: dict
    due_at: dt.datetime
    stability: float | None
    active: bool


def new_card(question_id: int, now: dt.datetime) -> Card:
    """A card for a question just missed: not yet reviewed, due at once."""
    return Card(card_id=question_id, due=now)


def reviewed(card: dict, correct: bool, now: dt.datetime, graduate_days: float) -> CardState:
    """The card after one review, and whether it stays in the notebook."""
    rating = Rating.Good if correct else Rating.Again
    after, _log = SCHEDULER.review_card(Card.from_dict(card), rating, now.astimezone(dt.UTC))  # type: ignore[arg-type]
    stability = after.stability
    graduated = correct and stability is not None and stability > graduate_days
    return CardState(dict(after.to_dict()), after.due, stability, not graduated)


async def _add_card(
    session: AsyncSession, member_id: int, question_id: int, now: dt.datetime
) -> bool:
    """Put a just-missed question into the notebook; False when its card already exists."""
    card = new_card(question_id, now)
    inserted = (
        await session.execute(
            insert_ignoring(session, _cards, _cards.c.id),
            {
                "member_id": member_id,
                "question_id": question_id,
                "card": dict(card.to_dict()),
                "due_at": card.due,
                "stability": None,
                "active": True,
                "lapses": 1,
                "created_at": now,
                "updated_at": now,
            },
        )
    ).scalar()
    return inserted is not None


async def record_answer(
    session: AsyncSession,
    *,
    member_id: int,
    question_id: int,
    correct: bool,
    now: dt.datetime,
    graduate_days: float,
) -> None:
    """Apply one answer to the notebook: a miss adds (or reviews) the card, a right
    answer reviews a card that is in the notebook."""
    row = (
        await session.execute(
            select(ReviewCard.id, ReviewCard.card, ReviewCard.active, ReviewCard.lapses).where(
                ReviewCard.member_id == member_id, ReviewCard.question_id == question_id
            )
        )
    ).first()
    await apply_answer(
        session,
        member_id=member_id,
        question_id=question_id,
        card_id=row[0] if row else None,
        card=row[1] if row else None,
        active=bool(row[2]) if row else False,
        lapses=row[3] if row else 0,
        correct=correct,
        now=now,
        graduate_days=graduate_days,
    )


_UPDATE_CARD = (
    update(_cards)
    .where(_cards.c.id == bindparam("p_id"))
    .values(
        card=bindparam("p_card"),
        due_at=bindparam("p_due_at"),
        stability=bindparam("p_stability"),
        active=bindparam("p_active"),
        lapses=bindparam("p_lapses"),
        updated_at=bindparam("p_updated_at"),
    )
)


async def apply_answer(
    session: AsyncSession,
    *,
    member_id: int,
    question_id: int,
    card_id: int | None,
    card: dict | None,
    active: bool,
    lapses: int,
    correct: bool,
    now: dt.datetime,
    graduate_days: float,
) -> None:
    """``record_answer`` for a caller that already read the member's card (or its absence)
    with the question: one statement instead of two."""
    if card_id is None or card is None:
        if correct or await _add_card(session, member_id, question_id, now):
            return
        # Added concurrently: treat this answer as a review of that card.
        await record_answer(
            session,
            member_id=member_id,
            question_id=question_id,
            correct=correct,
            now=now,
            graduate_days=graduate_days,
        )
        return
    if correct and not active:
        return
    state = reviewed(card, correct, now, graduate_days)
    await session.execute(
        _UPDATE_CARD,
        {
            "p_id": card_id,
            "p_card": state.card,
            "p_due_at": state.due_at,
            "p_stability": state.stability,
            "p_active": state.active,
            "p_lapses": lapses + (0 if correct else 1),
            "p_updated_at": now,
        },
    )


def end_of_day(now: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The first instant of tomorrow (local), in UTC: cards due before it are due today."""
    tomorrow = now.astimezone(tz).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time.min, tzinfo=tz).astimezone(dt.UTC)


async def due_question_ids(
    session: AsyncSession, member_id: int, now: dt.datetime, tz: ZoneInfo, limit: int
) -> list[int]:
    """Questions due for review today, the most overdue first (retired questions skipped)."""
    rows = await session.scalars(
        select(ReviewCard.question_id)
        .join(Question, Question.id == ReviewCard.question_id)
        .where(
            ReviewCard.member_id == member_id,
            ReviewCard.active.is_(True),
            ReviewCard.due_at < end_of_day(now, tz),
            Question.retired.is_(False),
            Question.current_version_id.is_not(None),
        )
        .order_by(ReviewCard.due_at, ReviewCard.id)
        .limit(limit)
    )
    return list(rows)


async def notebook(session: AsyncSession, member_id: int) -> tuple[int, dt.datetime | None]:
    """Cards in the notebook and the next due time."""
    row = (
        await session.execute(
            select(func.count(ReviewCard.id), func.min(ReviewCard.due_at))
            .join(Question, Question.id == ReviewCard.question_id)
            .where(
                ReviewCard.member_id == member_id,
                ReviewCard.active.is_(True),
                Question.retired.is_(False),
            )
        )
    ).first()
    if row is None:
        return 0, None
    count, due = row
    if isinstance(due, str):  # SQLite's MIN() loses the column type
        due = dt.datetime.fromisoformat(due)
    if due is not None and due.tzinfo is None:
        due = due.replace(tzinfo=dt.UTC)
    return int(count or 0), due
