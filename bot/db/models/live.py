"""Group live quiz rounds driven by Telegram quiz polls."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base, JSONType
from bot.db.types import UTCDateTime, utcnow


class LiveRound(Base):
    __tablename__ = "live_rounds"
    __table_args__ = (
        # At most one running round per group, enforced by the database.
        Index(
            "uq_live_rounds_running_chat",
            "chat_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"))
    started_by: Mapped[int | None] = mapped_column(BigInteger)
    n_questions: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running finished stopped
    next_position: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    result_message_id: Mapped[int | None] = mapped_column(BigInteger)


class LiveQuestion(Base):
    __tablename__ = "live_questions"
    __table_args__ = (UniqueConstraint("round_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("live_rounds.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    question_version_id: Mapped[int] = mapped_column(ForeignKey("question_versions.id"))
    poll_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    poll_type: Mapped[str] = mapped_column(String(16), default="quiz")  # quiz | regular
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    intro_message_id: Mapped[int | None] = mapped_column(BigInteger)
    option_map: Mapped[list] = mapped_column(JSONType, default=list)
    correct_option_ids: Mapped[list] = mapped_column(JSONType, default=list)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
