"""Members: who is acting (roles, language), registration and binding, roles, check-in."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.db.models import (
    AuditEntry,
    Department,
    LedgerEntry,
    Member,
    MemberRole,
    PendingInput,
    StartPrompt,
)
from bot.db.types import utcnow
from bot.db.upsert import insert_or_ignore
from bot.i18n import resolve_locale
from bot.points.ledger import award

ROLES = ("staff", "leader", "admin")
NAME_MAX = 50


@dataclass(frozen=True)
class Actor:
    """The person behind an update, as far as permissions and language go."""

    telegram_id: int
    member_id: int | None = None
    name: str | None = None
    department: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    locale: str = "zh_CN"

    @property
    def is_member(self) -> bool:
        return self.member_id is not None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_leader(self) -> bool:
        return "leader" in self.roles or "admin" in self.roles

    def has(self, role: str) -> bool:
        if role == "staff":
            return self.is_member
        if role == "leader":
            return self.is_leader
        return role in self.roles


@dataclass(frozen=True)
class MemberView:
    id: int
    name: str
    department: str | None
    telegram_id: int | None
    username: str | None
    employee_no: str | None
    active: bool


async def member_view(session: AsyncSession, member_id: int) -> MemberView | None:
    row = (
        await session.execute(
            select(Member, Department.name)
            .outerjoin(Department, Department.id == Member.department_id)
            .where(Member.id == member_id)
        )
    ).first()
    if row is None:
        return None
    member, dept = row
    return MemberView(
        member.id,
        member.name,
        dept,
        member.telegram_id,
        member.username,
        member.employee_no,
        member.active,
    )


_members = cast(Table, Member.__table__)
_departments = cast(Table, Department.__table__)
_member_roles = cast(Table, MemberRole.__table__)

# Everything ``actor_of`` needs in one statement, built once: it runs for every update.
_ACTORS = (
    select(
        _members.c.telegram_id,
        _members.c.id,
        _members.c.name,
        _members.c.language,
        _departments.c.name.label("department"),
        select(func.aggregate_strings(_member_roles.c.role, ","))
        .where(_member_roles.c.member_id == _members.c.id)
        .scalar_subquery()
        .label("roles"),
    )
    .select_from(_members.outerjoin(_departments, _departments.c.id == _members.c.department_id))
    .where(_members.c.telegram_id.in_(bindparam("telegram_ids", expanding=True)))
)
_SET_LANGUAGE = (
    update(_members)
    .where(_members.c.id == bindparam("member_id"))
    .values(language=bindparam("language"))
)

# A member as read by ``_ACTORS`` (None: nobody registered under that Telegram id).
ActorRow = Any


async def actor_rows(session: AsyncSession, telegram_ids: list[int]) -> dict[int, ActorRow]:
    """The rows ``actor_of`` needs for several people at once (strangers are left out)."""
    rows = await session.execute(_ACTORS, {"telegram_ids": sorted(set(telegram_ids))})
    return {row.telegram_id: row for row in rows}


def actor_of(
    config: Config, telegram_id: int, language_code: str | None, row: ActorRow | None
) -> Actor:
    """The person behind an update, from their member row (None for a stranger)."""
    roles: set[str] = set()
    if telegram_id in config.admins:
        roles.add("admin")
    if telegram_id in config.leaders:
        roles.add("leader")
    if row is None:
        return Actor(
            telegram_id,
            roles=frozenset(roles),
            locale=resolve_locale(language_code, config.locale),
        )
    if row.roles:
        roles.update(row.roles.split(","))
    roles.add("staff")
    locale = resolve_locale(language_code or row.language, config.locale)
    return Actor(telegram_id, row.id, row.name, row.department, frozenset(roles), locale)


def language_changed(row: ActorRow | None, language_code: str | None) -> bool:
    """Whether the member's Telegram language differs from the one stored."""
    return bool(row is not None and language_code and row.language != language_code[:8])


async def remember_language(session: AsyncSession, member_id: int, language_code: str) -> None:
    await session.execute(_SET_LANGUAGE, {"member_id": member_id, "language": language_code[:8]})


async def load_actor(
    session: AsyncSession, config: Config, telegram_id: int, language_code: str | None
) -> Actor:
    row = (await actor_rows(session, [telegram_id])).get(telegram_id)
    actor = actor_of(config, telegram_id, language_code, row)
    if language_changed(row, language_code) and actor.member_id is not None:
        assert language_code is not None
        await remember_language(session, actor.member_id, language_code)
    return actor


async def sync_departments(session: AsyncSession, config: Config) -> None:
    """Make sure every configured department exists, in the configured order."""
    for order, name in enumerate(config.departments):
        inserted = await insert_or_ignore(
            session, Department, {"name": name, "sort_order": order, "created_at": utcnow()}
        )
        if inserted is None:
            await session.execute(
                update(Department).where(Department.name == name).values(sort_order=order)
            )


async def department_choices(session: AsyncSession) -> list[tuple[int, str]]:
    rows = await session.execute(
        select(Department.id, Department.name).order_by(Department.sort_order, Department.id)
    )
    return [(r[0], r[1]) for r in rows]


# --- registration -------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationOutcome:
    """What happened: one of bound, already, ask_name, ask_department, not_on_roster,
    stale, invalid_name, bad_code, code_used."""

    status: str
    member: MemberView | None = None
    departments: list[tuple[int, str]] = field(default_factory=list)
    name: str | None = None


async def _bind(
    session: AsyncSession, member: Member, telegram_id: int, username: str | None, lang: str | None
) -> None:
    member.telegram_id = telegram_id
    if username:
        member.username = username
    if lang:
        member.language = lang[:8]
    member.bound_at = utcnow()
    member.reachable = True
    await session.execute(delete(PendingInput).where(PendingInput.telegram_id == telegram_id))
    await session.execute(delete(StartPrompt).where(StartPrompt.telegram_id == telegram_id))
    await session.flush()


async def begin_registration(
    session: AsyncSession,
    config: Config,
    telegram_id: int,
    username: str | None,
    language_code: str | None,
) -> RegistrationOutcome:
    existing = await session.scalar(select(Member).where(Member.telegram_id == telegram_id))
    if existing is not None:
        return RegistrationOutcome("already", await member_view(session, existing.id))
    if username:
        match = await session.scalar(
            select(Member).where(
                func.lower(Member.username) == username.lower(),
                Member.telegram_id.is_(None),
                Member.active.is_(True),
            )
        )
        if match is not None:
            await _bind(session, match, telegram_id, username, language_code)
            return RegistrationOutcome("bound", await member_view(session, match.id))
    await _set_pending(session, telegram_id, "reg_name", {})
    return RegistrationOutcome("ask_name")


async def _set_pending(session: AsyncSession, telegram_id: int, kind: str, payload: dict) -> None:
    await session.execute(delete(PendingInput).where(PendingInput.telegram_id == telegram_id))
    session.add(PendingInput(telegram_id=telegram_id, kind=kind, payload=payload))
    await session.flush()


def clean_name(text: str) -> str | None:
    name = " ".join(text.split())
    if not name or len(name) > NAME_MAX or name.startswith("/"):
        return None
    return name


async def submit_name(
    session: AsyncSession,
    config: Config,
    telegram_id: int,
    username: str | None,
    language_code: str | None,
    text: str,
) -> RegistrationOutcome:
    name = clean_name(text)
    if name is None:
        return RegistrationOutcome("invalid_name")
    departments = await department_choices(session)
    if not departments:
        return await _finish_registration(
            session, config, telegram_id, username, language_code, name, None
        )
    await _set_pending(session, telegram_id, "reg_dept", {"name": name})
    return RegistrationOutcome("ask_department", departments=departments, name=name)


async def choose_department(
    session: AsyncSession,
    config: Config,
    telegram_id: int,
    username: str | None,
    language_code: str | None,
    department_id: int,
) -> RegistrationOutcome:
    pending = await session.get(PendingInput, telegram_id)
    if pending is None or pending.kind != "reg_dept":
        return RegistrationOutcome("stale")
    if await session.get(Department, department_id) is None:
        return RegistrationOutcome("stale")
    return await _finish_registration(
        session,
        config,
        telegram_id,
        username,
        language_code,
        pending.payload["name"],
        department_id,
    )


async def _finish_registration(
    session: AsyncSession,
    config: Config,
    telegram_id: int,
    username: str | None,
    language_code: str | None,
    name: str,
    department_id: int | None,
) -> RegistrationOutcome:
    if await session.scalar(select(Member.id).where(Member.telegram_id == telegram_id)):
        return RegistrationOutcome("stale")
    match = await session.scalar(
        select(Member)
        .where(
            Member.name == name,
            Member.department_id.is_(department_id)
            if department_id is None
            else Member.department_id == department_id,
            Member.telegram_id.is_(None),
            Member.active.is_(True),
        )
        .order_by(Member.id)
        .limit(1)
    )
    if match is None:
        if config.registration == "roster":
            await session.execute(
                delete(PendingInput).where(PendingInput.telegram_id == telegram_id)
            )
            return RegistrationOutcome("not_on_roster", name=name)
        match = Member(name=name, department_id=department_id, on_roster=False)
        session.add(match)
        await session.flush()
    await _bind(session, match, telegram_id, username, language_code)
    return RegistrationOutcome("bound", await member_view(session, match.id))


async def bind_with_code(
    session: AsyncSession,
    telegram_id: int,
    username: str | None,
    language_code: str | None,
    code: str,
) -> RegistrationOutcome:
    existing = await session.scalar(select(Member).where(Member.telegram_id == telegram_id))
    member = await session.scalar(select(Member).where(Member.invite_code == code))
    if member is None or not member.active:
        return RegistrationOutcome("bad_code")
    if existing is not None:
        if existing.id == member.id:
            return RegistrationOutcome("already", await member_view(session, existing.id))
        return RegistrationOutcome("already", await member_view(session, existing.id))
    if member.telegram_id is not None:
        return RegistrationOutcome("code_used")
    await _bind(session, member, telegram_id, username, language_code)
    return RegistrationOutcome("bound", await member_view(session, member.id))


def new_invite_code() -> str:
    return secrets.token_urlsafe(6).replace("-", "x").replace("_", "y")


# --- roles --------------------------------------------------------------------------------


class MemberNotFound(LookupError):
    pass


class AmbiguousMember(LookupError):
    pass


async def find_member(session: AsyncSession, ref: str) -> Member:
    """A member by @username, Telegram id, employee number, id like #12, or exact name."""
    ref = ref.strip()
    candidates: list[Member] = []
    if ref.startswith("@"):
        candidates = list(
            await session.scalars(
                select(Member).where(func.lower(Member.username) == ref[1:].lower())
            )
        )
    elif ref.startswith("#") and ref[1:].isdigit():
        found = await session.get(Member, int(ref[1:]))
        candidates = [found] if found else []
    else:
        if ref.lstrip("-").isdigit():
            candidates = list(
                await session.scalars(select(Member).where(Member.telegram_id == int(ref)))
            )
        if not candidates:
            candidates = list(
                await session.scalars(select(Member).where(Member.employee_no == ref))
            )
        if not candidates:
            candidates = list(
                await session.scalars(
                    select(Member).where(Member.name == ref, Member.active.is_(True))
                )
            )
    if not candidates:
        raise MemberNotFound(ref)
    if len(candidates) > 1:
        raise AmbiguousMember(ref)
    return candidates[0]


async def grant_role(
    session: AsyncSession, member: Member, role: str, actor_telegram_id: int
) -> bool:
    if role not in ROLES:
        raise ValueError(role)
    if role == "staff":
        return False
    inserted = await insert_or_ignore(
        session,
        MemberRole,
        {
            "member_id": member.id,
            "role": role,
            "granted_by": actor_telegram_id,
            "granted_at": utcnow(),
        },
    )
    session.add(
        AuditEntry(
            actor_telegram_id=actor_telegram_id,
            action="role.grant",
            detail={"member_id": member.id, "role": role, "changed": inserted is not None},
        )
    )
    return inserted is not None


async def revoke_role(
    session: AsyncSession, member: Member, role: str, actor_telegram_id: int
) -> bool:
    if role not in ROLES:
        raise ValueError(role)
    result = await session.execute(
        delete(MemberRole).where(MemberRole.member_id == member.id, MemberRole.role == role)
    )
    changed = (result.rowcount or 0) > 0  # type: ignore[attr-defined]
    session.add(
        AuditEntry(
            actor_telegram_id=actor_telegram_id,
            action="role.revoke",
            detail={"member_id": member.id, "role": role, "changed": changed},
        )
    )
    return changed


# --- daily check-in and streaks -----------------------------------------------------------


def streak_length(days: set[dt.date], today: dt.date) -> tuple[int, dt.date]:
    """Consecutive days ending today, and the day the run started."""
    length = 0
    day = today
    while day in days:
        length += 1
        day -= dt.timedelta(days=1)
    return length, day + dt.timedelta(days=1)


async def checkin_days(
    session: AsyncSession, member_id: int, since: dt.date, until: dt.date
) -> set[dt.date]:
    rows = await session.scalars(
        select(LedgerEntry.local_day).where(
            LedgerEntry.member_id == member_id,
            LedgerEntry.kind == "checkin",
            LedgerEntry.local_day >= since,
            LedgerEntry.local_day <= until,
        )
    )
    return set(rows)


async def current_streak(session: AsyncSession, member_id: int, today: dt.date) -> int:
    days = await checkin_days(session, member_id, today - dt.timedelta(days=400), today)
    length, _ = streak_length(days, today)
    if length == 0:
        # Not yet checked in today: yesterday's run still counts as current.
        length, _ = streak_length(days, today - dt.timedelta(days=1))
    return length


async def daily_checkin(
    session: AsyncSession, config: Config, member_id: int, now: dt.datetime | None = None
) -> int:
    """The first interaction of the day: the check-in point and, on a streak, the bonus."""
    now = now or utcnow()
    today = now.astimezone(config.tz).date()
    rule = config.points
    result = await award(
        session,
        member_id=member_id,
        kind="checkin",
        reference=today.isoformat(),
        points=rule.checkin.points,
        tz=config.tz,
        now=now,
    )
    if result.duplicate:
        return 0
    gained = result.points
    need = rule.streak_bonus.days
    days = await checkin_days(session, member_id, today - dt.timedelta(days=400), today)
    length, start = streak_length(days, today)
    if length >= need:
        bonus = await award(
            session,
            member_id=member_id,
            kind="streak_bonus",
            reference=start.isoformat(),
            points=rule.streak_bonus.points,
            tz=config.tz,
            now=now,
        )
        gained += bonus.points
    return gained


async def mark_unreachable(session: AsyncSession, telegram_id: int) -> None:
    await session.execute(
        update(Member).where(Member.telegram_id == telegram_id).values(reachable=False)
    )


async def pending_input(session: AsyncSession, telegram_id: int) -> PendingInput | None:
    return await session.get(PendingInput, telegram_id)


async def set_pending_input(
    session: AsyncSession, telegram_id: int, kind: str, payload: dict | None = None
) -> None:
    await _set_pending(session, telegram_id, kind, payload or {})


async def clear_pending_input(
    session: AsyncSession, telegram_id: int, kind: str | None = None
) -> None:
    query = delete(PendingInput).where(PendingInput.telegram_id == telegram_id)
    if kind is not None:
        query = query.where(PendingInput.kind == kind)
    await session.execute(query)


async def prompt_start_once(session: AsyncSession, telegram_id: int) -> bool:
    """True the first time an unregistered user should be told to /start."""
    return (
        await insert_or_ignore(
            session, StartPrompt, {"telegram_id": telegram_id, "prompted_at": utcnow()}
        )
        is not None
    )
