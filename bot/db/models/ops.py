"""Operational state: received and processed updates (the redelivery guard) and claims of
scheduled work."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base, JSONType
from bot.db.types import UTCDateTime, utcnow


class ProcessedUpdate(Base):
    """Updates already handled to the end; a redelivered one is skipped."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class InboxUpdate(Base):
    """An update received by long polling and not yet handled to the end: stored before it
    is confirmed to Telegram, deleted when it is recorded as processed, and handled again
    at start-up if the process stopped in between."""

    __tablename__ = "update_inbox"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict] = mapped_column(JSONType)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Claim(Base):
    """A unique key per piece of scheduled work, so one replica (and one run) does it."""

    __tablename__ = "claims"

    key: Mapped[str] = mapped_column(String(191), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
