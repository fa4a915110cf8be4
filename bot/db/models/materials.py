"""Study plan items, their deliveries, read confirmations, in-person sessions and reminders."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base, JSONType
from bot.db.types import UTCDateTime, utcnow


class PlanItem(Base):
    __tablename__ = "plan_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(1024))
    file: Mapped[str | None] = mapped_column(String(1024))
    when: Mapped[str] = mapped_column(String(64))  # ISO date-time or cron expression
    audience: Mapped[list] = mapped_column(JSONType, default=list)
    points: Mapped[int] = mapped_column(Integer, default=1)
    quiz_bank: Mapped[str | None] = mapped_column(String(64))
    quiz_questions: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One push of one occurrence of an item to one chat; the unique key makes it once-only."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("plan_item_id", "occurrence", "chat_id"),
        Index("ix_deliveries_occurrence", "occurrence"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_item_id: Mapped[int] = mapped_column(ForeignKey("plan_items.id", ondelete="CASCADE"))
    occurrence: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    # claimed | sent | failed | unreachable | missed
    status: Mapped[str] = mapped_column(String(16), default="claimed")
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class MaterialRead(Base):
    __tablename__ = "material_reads"
    __table_args__ = (
        UniqueConstraint("member_id", "plan_item_id", "occurrence"),
        Index("ix_material_reads_read_at", "read_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    plan_item_id: Mapped[int] = mapped_column(ForeignKey("plan_items.id", ondelete="CASCADE"))
    occurrence: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StudySession(Base):
    """An in-person study session (集中学习 / 专题研讨 / 主题党日 / 讲座) with check-in."""

    __tablename__ = "study_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32), default="集中学习")
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    audience: Mapped[list] = mapped_column(JSONType, default=list)
    opened_by: Mapped[int | None] = mapped_column(BigInteger)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    closes_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SessionCheckin(Base):
    __tablename__ = "session_checkins"
    __table_args__ = (UniqueConstraint("session_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("study_sessions.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    via: Mapped[str] = mapped_column(String(16), default="button")  # button | link
    checked_in_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReminderSent(Base):
    __tablename__ = "reminders_sent"
    __table_args__ = (UniqueConstraint("member_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="claimed")
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
