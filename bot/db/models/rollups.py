"""Monthly rollups of the large activity tables, kept for report and leaderboard speed.

A year's figures would otherwise sum about a million ledger rows and answers on every call.
The rows here are derived data: ``bot/reports/rollups.py`` writes them for closed months only
and reads them together with the raw rows of the days they do not cover, so every figure is
the same with or without them (``rollup_state.through`` says how far they reach).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base
from bot.db.models.quiz import Answer
from bot.db.types import UTCDateTime, utcnow


class RollupState(Base):
    """How far the rollups reach: every closed month up to ``through`` (a month's last day)."""

    __tablename__ = "rollup_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    through: Mapped[dt.date | None] = mapped_column(Date)
    # Local days of timestamps depend on the zone: another zone means rebuilding everything.
    timezone: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MemberMonth(Base):
    """One member's activity in one closed month (the month's first day as key).

    Clustered by month on SQLite (no rowid), so a period's months are one range read.
    """

    __tablename__ = "rollup_member_months"
    __table_args__ = (
        Index("ix_rollup_member_months_member", "member_id", "month"),
        {"sqlite_with_rowid": False},
    )

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    points: Mapped[int] = mapped_column(Integer, default=0)  # sum of ledger deltas
    last_award_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # latest ledger row
    answers: Mapped[int] = mapped_column(Integer, default=0)  # private and live
    correct: Mapped[int] = mapped_column(Integer, default=0)
    reads: Mapped[int] = mapped_column(Integer, default=0)  # confirmed material reads
    quizzes: Mapped[int] = mapped_column(Integer, default=0)  # finished private quiz attempts


class QuestionMonth(Base):
    """Answers to one question in one closed month."""

    __tablename__ = "rollup_question_months"
    __table_args__ = ({"sqlite_with_rowid": False},)

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    answers: Mapped[int] = mapped_column(Integer, default=0)
    correct: Mapped[int] = mapped_column(Integer, default=0)


# Live participations, (member, round) pairs, are counted from the raw answers of a period.
# This partial index holds the live answers only, so that count never walks every answer.
Index(
    "ix_answers_live_answered",
    Answer.answered_at,
    Answer.member_id,
    Answer.live_question_id,
    sqlite_where=Answer.live_question_id.is_not(None),
    postgresql_where=Answer.live_question_id.is_not(None),
)
