"""Topic discussions in groups and study reflections submitted in private."""

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

from bot.db.models.base import Base
from bot.db.types import UTCDateTime, utcnow


class Discussion(Base):
    __tablename__ = "discussions"
    __table_args__ = (UniqueConstraint("chat_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(255))
    opened_by: Mapped[int | None] = mapped_column(BigInteger)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    closes_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    result_message_id: Mapped[int | None] = mapped_column(BigInteger)


class DiscussionReply(Base):
    """Every reply to a topic message, counted or not (the rule decides ``counts``)."""

    __tablename__ = "discussion_replies"
    __table_args__ = (UniqueConstraint("discussion_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    discussion_id: Mapped[int] = mapped_column(ForeignKey("discussions.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    counts: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DiscussionParticipant(Base):
    """A member counted once per topic: the reply that made them count."""

    __tablename__ = "discussion_participants"
    __table_args__ = (
        UniqueConstraint("discussion_id", "member_id"),
        Index("ix_discussion_participants_counted_at", "counted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    discussion_id: Mapped[int] = mapped_column(ForeignKey("discussions.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    reply_id: Mapped[int | None] = mapped_column(
        ForeignKey("discussion_replies.id", ondelete="SET NULL")
    )
    counted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reflection(Base):
    """A 学习心得; (member, message_id) is unique so a redelivered message stores it once."""

    __tablename__ = "reflections"
    __table_args__ = (
        UniqueConstraint("member_id", "message_id"),
        Index("ix_reflections_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    plan_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_items.id", ondelete="SET NULL")
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("study_sessions.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
