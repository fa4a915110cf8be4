"""Question banks and versioned questions (an answer always points at the version asked)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base, JSONType
from bot.db.types import UTCDateTime, utcnow


class Bank(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    tags: Mapped[list] = mapped_column(JSONType, default=list)
    campaign_title: Mapped[str | None] = mapped_column(String(255))
    campaign_from: Mapped[dt.date | None] = mapped_column()
    campaign_to: Mapped[dt.date | None] = mapped_column()
    campaign_questions: Mapped[int | None] = mapped_column(Integer)
    # False hides the bank from daily/weekly draws (it stays usable by name).
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Question(Base):
    """A question's stable identity within a bank; its content lives in versions."""

    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("bank_id", "qid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), index=True)
    qid: Mapped[str] = mapped_column(String(64))
    # Points at question_versions.id (no FK: the two rows reference each other).
    current_version_id: Mapped[int | None] = mapped_column(Integer, index=True)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class QuestionVersion(Base):
    __tablename__ = "question_versions"
    __table_args__ = (UniqueConstraint("question_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))  # single | multiple | judge | blank
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[list] = mapped_column(JSONType, default=list)
    # single/multiple: letters ["A", "C"]; judge: [true] or [false]; blank: accepted variants.
    answer: Mapped[list] = mapped_column(JSONType)
    explanation: Mapped[str | None] = mapped_column(Text)
    difficulty: Mapped[int | None] = mapped_column(Integer)
    tags: Mapped[list] = mapped_column(JSONType, default=list)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
