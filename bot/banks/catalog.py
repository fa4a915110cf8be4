"""What the database holds: banks with question counts by type, and a bank's live questions.

Feeds ``studybot bank list/show``, ``/banks`` in chat and the exporter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.banks.model import QUESTION_TYPES, Campaign
from bot.db.models import Bank, Question, QuestionVersion


@dataclass
class BankInfo:
    slug: str
    title: str
    tags: list[str]
    active: bool
    campaign: Campaign | None
    source_name: str | None
    updated_at: dt.datetime
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(QUESTION_TYPES, 0))
    retired: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class StoredQuestion:
    """A live question in its current version, as quizzes ask it."""

    qid: str
    version: int
    type: str
    text: str
    options: list[str]
    answer: list[object]
    explanation: str | None
    difficulty: int | None
    tags: list[str]


def _campaign(bank: Bank) -> Campaign | None:
    if bank.campaign_title and bank.campaign_from and bank.campaign_to:
        return Campaign(
            bank.campaign_title,
            bank.campaign_from,
            bank.campaign_to,
            bank.campaign_questions or 0,
        )
    return None


def _info(bank: Bank) -> BankInfo:
    return BankInfo(
        slug=bank.slug,
        title=bank.title,
        tags=list(bank.tags or []),
        active=bank.active,
        campaign=_campaign(bank),
        source_name=bank.source_name,
        updated_at=bank.updated_at,
    )


async def list_banks(session: AsyncSession) -> list[BankInfo]:
    """Every bank by id, with live question counts per type and the number retired."""
    banks = {b.id: _info(b) for b in await session.scalars(select(Bank).order_by(Bank.slug))}
    rows = await session.execute(
        select(Question.bank_id, Question.retired, QuestionVersion.type, func.count())
        .join(QuestionVersion, QuestionVersion.id == Question.current_version_id)
        .group_by(Question.bank_id, Question.retired, QuestionVersion.type)
    )
    for bank_id, retired, qtype, count in rows:
        info = banks.get(bank_id)
        if info is None:
            continue
        if retired:
            info.retired += count
        else:
            info.counts[qtype] = info.counts.get(qtype, 0) + count
    return list(banks.values())


async def load_bank(
    session: AsyncSession, slug: str
) -> tuple[BankInfo, list[StoredQuestion]] | None:
    """A bank and its live questions in file order; None when there is no such bank."""
    bank = await session.scalar(select(Bank).where(Bank.slug == slug))
    if bank is None:
        return None
    info = _info(bank)
    rows = await session.execute(
        select(Question.qid, Question.retired, QuestionVersion)
        .join(QuestionVersion, QuestionVersion.id == Question.current_version_id)
        .where(Question.bank_id == bank.id)
        .order_by(Question.position, Question.id)
    )
    questions: list[StoredQuestion] = []
    for qid, retired, version in rows:
        if retired:
            info.retired += 1
            continue
        info.counts[version.type] = info.counts.get(version.type, 0) + 1
        questions.append(
            StoredQuestion(
                qid=qid,
                version=version.version,
                type=version.type,
                text=version.text,
                options=list(version.options or []),
                answer=list(version.answer or []),
                explanation=version.explanation,
                difficulty=version.difficulty,
                tags=list(version.tags or []),
            )
        )
    return info, questions
