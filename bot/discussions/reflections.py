"""Study reflections (学习心得): submitted in private, kept with their text for the admins.

A reflection is stored once per Telegram message ((member, message_id) is unique), so a
redelivered update stores nothing twice. It must be at least ``points.reflection.min_chars``
characters long, not counting white space; a shorter one is refused with its count. Points:
``points.reflection.points`` each, for at most ``weekly_cap`` reflections per ISO week (local
time); later ones that week are stored but earn nothing. A reflection may be linked to a
study material (plan item) or an in-person session it is about.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.core.discussion_rules import reflection_length
from bot.core.periods import week_start
from bot.db.models import (
    LedgerEntry,
    MaterialRead,
    PlanItem,
    Reflection,
    SessionCheckin,
    StudySession,
)
from bot.db.types import utcnow
from bot.db.upsert import insert_or_ignore
from bot.points.ledger import Cap, award

TEXT_MAX = 20_000
PREVIEW = 40


@dataclass(frozen=True)
class ReflectionOutcome:
    """``status``: stored, duplicate or too_short."""

    status: str
    length: int
    min_chars: int
    points: int = 0
    capped: bool = False
    reflection_id: int | None = None


@dataclass(frozen=True)
class Link:
    """What a reflection is about: ``kind`` "m" (study material) or "s" (study session)."""

    kind: str
    id: int
    title: str


async def resolve_link(session: AsyncSession, kind: str, ref_id: int) -> Link | None:
    if kind == "m":
        title = await session.scalar(select(PlanItem.title).where(PlanItem.id == ref_id))
    elif kind == "s":
        title = await session.scalar(select(StudySession.title).where(StudySession.id == ref_id))
    else:
        return None
    return Link(kind, ref_id, title) if title is not None else None


async def recent_links(
    session: AsyncSession, member_id: int, now: dt.datetime, *, days: int = 14, limit: int = 4
) -> list[Link]:
    """Materials the member confirmed and sessions they attended lately, newest first."""
    since = now - dt.timedelta(days=days)
    reads = await session.execute(
        select(PlanItem.id, PlanItem.title, func.max(MaterialRead.read_at))
        .join(MaterialRead, MaterialRead.plan_item_id == PlanItem.id)
        .where(MaterialRead.member_id == member_id, MaterialRead.read_at >= since)
        .group_by(PlanItem.id, PlanItem.title)
    )
    sessions = await session.execute(
        select(StudySession.id, StudySession.title, SessionCheckin.checked_in_at)
        .join(SessionCheckin, SessionCheckin.session_id == StudySession.id)
        .where(SessionCheckin.member_id == member_id, SessionCheckin.checked_in_at >= since)
    )
    found = [(when, Link("m", i, t)) for i, t, when in reads] + [
        (when, Link("s", i, t)) for i, t, when in sessions
    ]
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [link for _when, link in found[:limit]]


async def submit_reflection(
    session: AsyncSession,
    config: Config,
    *,
    member_id: int,
    message_id: int | None,
    text: str,
    now: dt.datetime | None = None,
    link: Link | None = None,
) -> ReflectionOutcome:
    """Store a reflection and award its points (weekly cap); the caller owns the transaction."""
    now = now or utcnow()
    rule = config.points.reflection
    text = text.strip()
    length = reflection_length(text)
    if length < rule.min_chars:
        return ReflectionOutcome("too_short", length, rule.min_chars)
    if link is not None:
        link = await resolve_link(session, link.kind, link.id)
    reflection_id = await insert_or_ignore(
        session,
        Reflection,
        {
            "member_id": member_id,
            "message_id": message_id,
            "text": text[:TEXT_MAX],
            "plan_item_id": link.id if link is not None and link.kind == "m" else None,
            "session_id": link.id if link is not None and link.kind == "s" else None,
            "created_at": now,
        },
        returning=Reflection.id,
    )
    if reflection_id is None:
        return ReflectionOutcome("duplicate", length, rule.min_chars)
    monday = week_start(now.astimezone(config.tz).date())
    result = await award(
        session,
        member_id=member_id,
        kind="reflection",
        reference=str(reflection_id),
        points=rule.points,
        tz=config.tz,
        cap=Cap(rule.weekly_cap * rule.points, monday, monday + dt.timedelta(days=6)),
        now=now,
    )
    return ReflectionOutcome(
        "stored", length, rule.min_chars, result.points, result.capped, reflection_id
    )


@dataclass(frozen=True)
class ReflectionView:
    id: int
    created_at: dt.datetime
    length: int
    preview: str
    about: str | None
    points: int


def preview(text: str, size: int = PREVIEW) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[: size - 1] + "…"


async def member_reflections(
    session: AsyncSession, member_id: int, *, limit: int = 10
) -> tuple[int, list[ReflectionView]]:
    """The member's own reflections, newest first, and how many there are in all."""
    total = await session.scalar(
        select(func.count(Reflection.id)).where(Reflection.member_id == member_id)
    )
    rows = await session.execute(
        select(Reflection, PlanItem.title, StudySession.title)
        .outerjoin(PlanItem, PlanItem.id == Reflection.plan_item_id)
        .outerjoin(StudySession, StudySession.id == Reflection.session_id)
        .where(Reflection.member_id == member_id)
        .order_by(Reflection.created_at.desc(), Reflection.id.desc())
        .limit(limit)
    )
    items = list(rows)
    references = [str(r.id) for r, _m, _s in items]
    awarded: dict[str, int] = {}
    if references:
        ledger = await session.execute(
            select(LedgerEntry.reference, LedgerEntry.delta).where(
                LedgerEntry.member_id == member_id,
                LedgerEntry.kind == "reflection",
                LedgerEntry.reference.in_(references),
            )
        )
        awarded = {ref: delta for ref, delta in ledger}
    views = [
        ReflectionView(
            r.id,
            r.created_at,
            reflection_length(r.text),
            preview(r.text),
            material or sess,
            awarded.get(str(r.id), 0),
        )
        for r, material, sess in items
    ]
    return int(total or 0), views
