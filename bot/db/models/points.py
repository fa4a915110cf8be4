"""The append-only points ledger and the audit log of administrative actions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base, JSONType
from bot.db.types import UTCDateTime, utcnow


class LedgerEntry(Base):
    """One award or adjustment. (member, kind, reference) is unique: awards are idempotent."""

    __tablename__ = "points_ledger"
    __table_args__ = (
        UniqueConstraint("member_id", "kind", "reference"),
        Index("ix_points_ledger_created_at", "created_at"),
        Index("ix_points_ledger_member_created", "member_id", "created_at"),
        Index("ix_points_ledger_kind_day", "kind", "local_day"),
        # Covering indexes for period totals per member (migration 0002).
        Index("ix_points_ledger_member_day_delta", "member_id", "local_day", "delta", "created_at"),
        Index("ix_points_ledger_day_member_delta", "local_day", "member_id", "delta", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="RESTRICT"))
    delta: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(128))
    # The day in the configured time zone: caps and streaks are per local day.
    local_day: Mapped[dt.date] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """Administrative actions (grants, imports, adjustments, refusals worth keeping)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_telegram_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
