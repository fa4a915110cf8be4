"""Which questions an attempt asks: the pool per mode, unseen questions first, no repeats.

Every choice is a function of the attempt's stored seed, so the same attempt always gets the
same questions in the same order (and a resumed quiz shows exactly what it showed before).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, Table, and_, bindparam, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Answer, AttemptQuestion, Bank, Question, QuestionVersion

# Multiplier of the in-SQL pseudo-random order used for open-ended draws (a prime, so
# ``(id * K + seed) % M`` spreads consecutive ids over the whole range on both backends).
_K = 2654435761
_M = 1_000_003


def _table(model: type) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


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


_questions = _table(Question)
_banks = _table(Bank)
_answers = _table(Answer)

# The draw runs for every quiz started; its statements are built once.
_POOL_OF_BANK = (
    select(_questions.c.id, _questions.c.current_version_id)
    .where(
        _questions.c.retired.is_(False),
        _questions.c.current_version_id.is_not(None),
        _questions.c.bank_id == bindparam("bank_id"),
    )
    .order_by(_questions.c.id)
)
_POOL_OF_ACTIVE_BANKS = (
    select(_questions.c.id, _questions.c.current_version_id)
    .join(_banks, _banks.c.id == _questions.c.bank_id)
    .where(
        _questions.c.retired.is_(False),
        _questions.c.current_version_id.is_not(None),
        _banks.c.active.is_(True),
    )
    .order_by(_questions.c.id)
)
_POOL_OF_ALL_BANKS = (
    select(_questions.c.id, _questions.c.current_version_id)
    .where(_questions.c.retired.is_(False), _questions.c.current_version_id.is_not(None))
    .order_by(_questions.c.id)
)
_ANSWERED = (
    select(_answers.c.question_id).where(_answers.c.member_id == bindparam("member_id")).distinct()
)


async def pool(
    session: AsyncSession, *, bank_id: int | None = None, active_only: bool = True
) -> list[Drawn]:
    """Askable questions: of one bank, or of every active bank (daily and weekly quizzes)."""
    if bank_id is not None:
        rows = await session.execute(_POOL_OF_BANK, {"bank_id": bank_id})
    else:
        rows = await session.execute(_POOL_OF_ACTIVE_BANKS if active_only else _POOL_OF_ALL_BANKS)
    return [Drawn(row[0], row[1]) for row in rows]


async def answered_question_ids(session: AsyncSession, member_id: int) -> set[int]:
    return set(await session.scalars(_ANSWERED, {"member_id": member_id}))


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
