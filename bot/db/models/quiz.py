"""Private-chat quiz attempts, the questions they asked, every answer, and review cards."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base, JSONType
from bot.db.types import UTCDateTime, utcnow


class QuizAttempt(Base):
    """One run of a quiz by a member. (member, mode, period_key) is unique: once per period."""

    __tablename__ = "quiz_attempts"
    __table_args__ = (
        UniqueConstraint("member_id", "mode", "period_key"),
        Index("ix_quiz_attempts_created_at", "created_at"),
        Index("ix_quiz_attempts_finished_at", "finished_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(16))  # daily weekly special challenge review material
    bank_id: Mapped[int | None] = mapped_column(ForeignKey("banks.id", ondelete="SET NULL"))
    period_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | finished
    current_position: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)  # None: open-ended (challenge)
    correct_count: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[int] = mapped_column(Integer, default=0)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AttemptQuestion(Base):
    """A question as asked in an attempt: the version, the shown option order, the message."""

    __tablename__ = "attempt_questions"
    __table_args__ = (UniqueConstraint("attempt_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempts.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    question_version_id: Mapped[int] = mapped_column(ForeignKey("question_versions.id"))
    # shown letter i -> original option index option_order[i]
    option_order: Mapped[list] = mapped_column(JSONType, default=list)
    selection: Mapped[list] = mapped_column(JSONType, default=list)  # multiple-choice toggles
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Answer(Base):
    """Every answer, private or live; unique per asked question (private) or per poll+member."""

    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("attempt_question_id"),
        UniqueConstraint("live_question_id", "member_id"),
        Index("ix_answers_answered_at", "answered_at"),
        Index("ix_answers_member_answered", "member_id", "answered_at"),
        Index("ix_answers_question", "question_id"),
        # Covering indexes for period aggregates per member and per question (migration 0002).
        Index("ix_answers_answered_member_correct", "answered_at", "member_id", "correct"),
        Index("ix_answers_answered_question_correct", "answered_at", "question_id", "correct"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    question_version_id: Mapped[int] = mapped_column(ForeignKey("question_versions.id"))
    attempt_question_id: Mapped[int | None] = mapped_column(
        ForeignKey("attempt_questions.id", ondelete="CASCADE")
    )
    live_question_id: Mapped[int | None] = mapped_column(
        ForeignKey("live_questions.id", ondelete="CASCADE")
    )
    mode: Mapped[str] = mapped_column(String(16))  # the quiz mode, or "live"
    given: Mapped[list] = mapped_column(JSONType, default=list)
    correct: Mapped[bool] = mapped_column(Boolean)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    elapsed_ms: Mapped[int | None] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer, default=0)
    answered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewCard(Base):
    """A wrongly answered question in a member's notebook, scheduled by FSRS."""

    __tablename__ = "review_cards"
    __table_args__ = (
        UniqueConstraint("member_id", "question_id"),
        Index("ix_review_cards_member_due", "member_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    card: Mapped[dict] = mapped_column(JSONType, default=dict)  # fsrs.Card.to_dict()
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    stability: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    lapses: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
