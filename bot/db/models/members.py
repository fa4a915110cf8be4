"""People, departments, roles, chats and the pending free-text inputs of a conversation."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base, JSONType
from bot.db.types import UTCDateTime, utcnow


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Member(Base):
    """A person of the unit: on the roster (imported) or self-registered, bound or not."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    employee_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_code: Mapped[str | None] = mapped_column(String(32), unique=True)
    language: Mapped[str | None] = mapped_column(String(8))
    # False once Telegram answered 403 (blocked / deactivated): broadcasts skip them.
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    # False when removed from the roster; history stays, rates no longer count them.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    on_roster: Mapped[bool] = mapped_column(Boolean, default=False)
    reminders: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    bound_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class MemberRole(Base):
    """Roles granted in chat (config admins/leaders are resolved from the config as well)."""

    __tablename__ = "member_roles"
    __table_args__ = (UniqueConstraint("member_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[int | None] = mapped_column(BigInteger)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Chat(Base):
    """Chats the bot has seen; groups keep their allowed state and migrations."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(String(255))
    allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    migrated_to: Mapped[int | None] = mapped_column(BigInteger)
    left_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingInput(Base):
    """What the next private free text of a Telegram user answers (a name, a blank, a note).

    Kept in the database so a restart in the middle of a conversation loses nothing.
    """

    __tablename__ = "pending_inputs"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StartPrompt(Base):
    """Unregistered users already told once, in private, to /start."""

    __tablename__ = "start_prompts"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    prompted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
