"""The append-only ledger: every point is a row, every award goes through ``award``.

(member, kind, reference) is unique, so a redelivered update, a double click or a restart
never awards twice: the insert is refused by the database, not by a check in memory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEntry, LedgerEntry, Member
from bot.db.types import utcnow
from bot.db.upsert import dialect_name, insert_ignoring

KINDS = (
    "checkin",
    "material",
    "daily_quiz",
    "weekly_quiz",
    "special_quiz",
    "challenge",
    "review",
    "live_quiz",
    "streak_bonus",
    "session",
    "discussion",
    "reflection",
    "adjust",
)


@dataclass(frozen=True)
class Cap:
    """At most ``limit`` points of this kind between two local days (inclusive)."""

    limit: int
    first_day: dt.date
    last_day: dt.date


@dataclass(frozen=True)
class AwardResult:
    points: int
    duplicate: bool = False
    capped: bool = False


def capped_points(points: int, already: int, limit: int) -> int:
    """The part of ``points`` that still fits under ``limit`` given ``already`` awarded."""
    if points <= 0:
        return points
    return max(0, min(points, limit - already))


_ledger = cast(Table, LedgerEntry.__table__)
_members = cast(Table, Member.__table__)

# ``award`` runs for most updates; its statements are built once.
_LOCK_MEMBER = (
    select(_members.c.id).where(_members.c.id == bindparam("member_id")).with_for_update()
)
_EXISTS = select(_ledger.c.id).where(
    _ledger.c.member_id == bindparam("member_id"),
    _ledger.c.kind == bindparam("kind"),
    _ledger.c.reference == bindparam("reference"),
)
# The award already given for this reference (if any) and the points of the cap's window.
_EXISTS_AND_WINDOW = select(
    _EXISTS.scalar_subquery(),
    select(func.coalesce(func.sum(_ledger.c.delta), 0))
    .where(
        _ledger.c.member_id == bindparam("member_id"),
        _ledger.c.kind == bindparam("kind"),
        _ledger.c.local_day >= bindparam("first_day"),
        _ledger.c.local_day <= bindparam("last_day"),
    )
    .scalar_subquery(),
)


async def _lock_member(session: AsyncSession, member_id: int) -> None:
    # Serialise awards per member on PostgreSQL so caps hold under concurrency
    # (SQLite already serialises writers with BEGIN IMMEDIATE).
    if dialect_name(session) == "postgresql":
        await session.execute(_LOCK_MEMBER, {"member_id": member_id})


async def award(
    session: AsyncSession,
    *,
    member_id: int,
    kind: str,
    reference: str,
    points: int,
    tz: ZoneInfo,
    cap: Cap | None = None,
    now: dt.datetime | None = None,
    actor_telegram_id: int | None = None,
    reason: str | None = None,
) -> AwardResult:
    """Award ``points`` once for (member, kind, reference), within ``cap``.

    A capped award that comes to zero writes nothing; a duplicate writes nothing.
    The caller owns the transaction.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown ledger kind {kind!r}")
    now = now or utcnow()
    day = now.astimezone(tz).date()
    await _lock_member(session, member_id)
    key = {"member_id": member_id, "kind": kind, "reference": reference}
    granted = points
    if cap is not None:
        window = {**key, "first_day": cap.first_day, "last_day": cap.last_day}
        exists, already = (await session.execute(_EXISTS_AND_WINDOW, window)).one()
        if exists is not None:
            return AwardResult(0, duplicate=True)
        granted = capped_points(points, int(already or 0), cap.limit)
    elif await session.scalar(_EXISTS, key) is not None:
        return AwardResult(0, duplicate=True)
    if granted == 0 and points != 0:
        return AwardResult(0, capped=True)
    inserted = await session.scalar(
        insert_ignoring(session, _ledger, _ledger.c.id),
        {
            **key,
            "delta": granted,
            "local_day": day,
            "created_at": now,
            "actor_telegram_id": actor_telegram_id,
            "reason": reason,
        },
    )
    if inserted is None:
        return AwardResult(0, duplicate=True)
    return AwardResult(granted, capped=granted < points)


async def adjust(
    session: AsyncSession,
    *,
    member_id: int,
    delta: int,
    reason: str,
    actor_telegram_id: int | None,
    tz: ZoneInfo,
    now: dt.datetime | None = None,
    reference: str | None = None,
) -> AwardResult:
    """A manual adjustment: its own ledger row with the admin and the reason, audited.

    ``reference`` names the request (for a chat command: its chat and message id), so the
    same command delivered again adjusts once; without it every call is a new adjustment.
    """
    if delta == 0:
        raise ValueError("an adjustment of 0 points changes nothing")
    if not reason.strip():
        raise ValueError("an adjustment needs a reason")
    now = now or utcnow()
    reference = reference or f"{now.isoformat()}:{actor_telegram_id or 'cli'}"
    result = await award(
        session,
        member_id=member_id,
        kind="adjust",
        reference=reference,
        points=delta,
        tz=tz,
        now=now,
        actor_telegram_id=actor_telegram_id,
        reason=reason.strip(),
    )
    if result.duplicate:
        return result
    session.add(
        AuditEntry(
            actor_telegram_id=actor_telegram_id,
            action="points.adjust",
            detail={"member_id": member_id, "delta": delta, "reason": reason.strip()},
            created_at=now,
        )
    )
    return result


async def total_points(
    session: AsyncSession,
    member_id: int,
    *,
    first_day: dt.date | None = None,
    last_day: dt.date | None = None,
) -> int:
    query = select(func.coalesce(func.sum(LedgerEntry.delta), 0)).where(
        LedgerEntry.member_id == member_id
    )
    if first_day is not None:
        query = query.where(LedgerEntry.local_day >= first_day)
    if last_day is not None:
        query = query.where(LedgerEntry.local_day <= last_day)
    return int(await session.scalar(query) or 0)
