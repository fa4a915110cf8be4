"""Which questions an attempt asks: the pool per mode, unseen questions first, no repeats.

Every choice is a function of the attempt's stored seed, so the same attempt always gets the
same questions in the same order (and a resumed quiz shows exactly what it showed before).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, and_, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Answer, AttemptQuestion, Bank, Question, QuestionVersion

# Multiplier of the in-SQL pseudo-random order used for open-ended draws (a prime, so
# ``(id * K + seed) % M`` spreads consecutive ids over the whole range on both backends).
_K = 2654435761
_M = 1_000_003


@dataclass(frozen=True)
class Drawn:
    question_id: int
    version_id: int


def attempt_seed(member_id: int, mode: str, period_key: str) -> int:
    """A stable 31-bit seed for one attempt."""
    return zlib.crc32(f"{member_id}:{mode}:{period_key}".encode()) & 0x7FFFFFFF


def position_seed(seed: int, position: int) -> int:
    """The seed of one asked question (its option order, the open-ended next draw)."""
    return zlib.crc32(f"{seed}:{position}".encode()) & 0x7FFFFFFF


def _askable() -> list:
    return [
        Question.retired.is_(False),
        Question.current_version_id.is_not(None),
    ]


async def pool(
    session: AsyncSession, *, bank_id: int | None = None, active_only: bool = True
) -> list[Drawn]:
    """Askable questions: of one bank, or of every active bank (daily and weekly quizzes)."""
    query = select(Question.id, Question.current_version_id).where(*_askable())
    if bank_id is not None:
        query = query.where(Question.bank_id == bank_id)
    elif active_only:
        query = query.join(Bank, Bank.id == Question.bank_id).where(Bank.active.is_(True))
    query = query.order_by(Question.id)
    rows = await session.execute(query)
    return [Drawn(row[0], row[1]) for row in rows if row[1] is not None]


async def answered_question_ids(session: AsyncSession, member_id: int) -> set[int]:
    rows = await session.scalars(
        select(Answer.question_id).where(Answer.member_id == member_id).distinct()
    )
    return set(rows)


def choose(candidates: Sequence[Drawn], seen: set[int], count: int, seed: int) -> list[Drawn]:
    """``count`` distinct questions, those not in ``seen`` first, in a seeded random order."""
    rng = random.Random(seed)
    fresh = [c for c in candidates if c.question_id not in seen]
    known = [c for c in candidates if c.question_id in seen]
    rng.shuffle(fresh)
    rng.shuffle(known)
    return (fresh + known)[: max(0, count)]


async def draw(
    session: AsyncSession,
    *,
    member_id: int,
    count: int,
    seed: int,
    bank_id: int | None = None,
    prefer_unseen: bool = True,
) -> list[Drawn]:
    candidates = await pool(session, bank_id=bank_id)
    seen = await answered_question_ids(session, member_id) if prefer_unseen else set()
    return choose(candidates, seen, count, seed)


async def draw_next(
    session: AsyncSession, *, attempt_id: int, seed: int, position: int
) -> Drawn | None:
    """One more question for an open-ended attempt (the challenge): any askable question of
    an active bank not yet asked in this attempt, in a seeded order computed by the database
    so no question list is loaded per answer."""
    asked = (
        select(QuestionVersion.question_id)
        .join(AttemptQuestion, AttemptQuestion.question_version_id == QuestionVersion.id)
        .where(AttemptQuestion.attempt_id == attempt_id)
    )
    salt = position_seed(seed, position) % _M
    query = (
        select(Question.id, Question.current_version_id)
        .join(Bank, and_(Bank.id == Question.bank_id, Bank.active.is_(True)))
        .where(*_askable(), Question.id.not_in(asked))
        .order_by((cast(Question.id, BigInteger) * _K + salt) % _M, Question.id)
        .limit(1)
    )
    row = (await session.execute(query)).first()
    return Drawn(row[0], row[1]) if row is not None and row[1] is not None else None
