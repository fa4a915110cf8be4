"""In-person study sessions (集中学习 / 专题研讨 / 主题党日 / 讲座) and their check-in.

An admin opens a session; attendees check in with a button in the group or with a deep
link (``/start ci_<code>``, printable as a QR code) while the window is open. Each member
checks in once (``session_checkins`` is unique per session and member) and earns
``points.session`` once (ledger reference ``session:<id>``). Closing, by command or when the
window ends, freezes the attendance, which the reports count against the audience: the
active roster.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.db.models import Claim, Member, SessionCheckin, StudySession
from bot.db.types import utcnow
from bot.db.upsert import insert_or_ignore
from bot.points.ledger import award

KINDS = ("集中学习", "专题研讨", "主题党日", "讲座")
KIND_ALIASES = {
    "study": "集中学习",
    "seminar": "专题研讨",
    "discussion": "专题研讨",
    "partyday": "主题党日",
    "party-day": "主题党日",
    "lecture": "讲座",
}
DEFAULT_KIND = KINDS[0]
DEFAULT_WINDOW = dt.timedelta(hours=3)
MAX_WINDOW = dt.timedelta(hours=24)
TITLE_MAX = 200
_WINDOW_RE = re.compile(r"^(\d+(?:\.\d+)?)(h|m|min|小时|分钟)$", re.IGNORECASE)


class SessionRequestError(ValueError):
    """The /session arguments cannot be understood (the message says how to fix them)."""


@dataclass(frozen=True)
class SessionRequest:
    title: str
    kind: str
    window: dt.timedelta


@dataclass(frozen=True)
class SessionView:
    id: int
    code: str
    title: str
    kind: str
    chat_id: int | None
    message_id: int | None
    opened_at: dt.datetime
    closes_at: dt.datetime
    closed_at: dt.datetime | None

    @classmethod
    def of(cls, row: StudySession) -> SessionView:
        return cls(
            row.id,
            row.code,
            row.title,
            row.kind,
            row.chat_id,
            row.message_id,
            row.opened_at,
            row.closes_at or row.opened_at + DEFAULT_WINDOW,
            row.closed_at,
        )


@dataclass(frozen=True)
class CheckinOutcome:
    """status: checked_in | already | closed | unknown"""

    status: str
    session: SessionView | None = None
    points: int = 0


@dataclass(frozen=True)
class Attendance:
    session: SessionView
    attended: int
    audience: int
    names: list[str]

    @property
    def rate(self) -> float:
        return self.attended / self.audience if self.audience else 0.0


def parse_window(token: str) -> dt.timedelta | None:
    """``3h``, ``90m``, ``1.5h`` → a timedelta; None when the token is not a duration."""
    match = _WINDOW_RE.match(token.strip())
    if match is None:
        return None
    amount = float(match.group(1))
    unit = match.group(2).lower()
    return dt.timedelta(hours=amount) if unit in ("h", "小时") else dt.timedelta(minutes=amount)


def parse_request(args: list[str]) -> SessionRequest:
    """``TITLE [KIND] [WINDOW]``: the kind and window are recognised from the end."""
    words = [w for w in args if w.strip()]
    window = DEFAULT_WINDOW
    kind = DEFAULT_KIND
    if words:
        parsed = parse_window(words[-1])
        if parsed is not None:
            if not dt.timedelta(minutes=5) <= parsed <= MAX_WINDOW:
                raise SessionRequestError("window")
            window = parsed
            words = words[:-1]
    if len(words) > 1:  # a lone word is the title, even if it names a kind
        last = words[-1]
        if last in KINDS or last.lower() in KIND_ALIASES:
            kind = last if last in KINDS else KIND_ALIASES[last.lower()]
            words = words[:-1]
    title = " ".join(words).strip()
    if not title:
        raise SessionRequestError("title")
    if len(title) > TITLE_MAX:
        raise SessionRequestError("title_length")
    return SessionRequest(title, kind, window)


def new_code() -> str:
    return secrets.token_urlsafe(8).replace("-", "x").replace("_", "y")[:10]


async def open_sessions(
    session: AsyncSession,
    *,
    chat_id: int | None = None,
    opened_by: int | None = None,
    now: dt.datetime | None = None,
) -> list[SessionView]:
    """Sessions still open for check-in, newest first (in a chat, or opened by someone)."""
    now = now or utcnow()
    query = select(StudySession).where(
        StudySession.closed_at.is_(None),
        or_(StudySession.closes_at.is_(None), StudySession.closes_at > now),
    )
    if chat_id is not None:
        query = query.where(StudySession.chat_id == chat_id)
    if opened_by is not None:
        query = query.where(StudySession.opened_by == opened_by)
    rows = await session.scalars(query.order_by(StudySession.opened_at.desc()))
    return [SessionView.of(r) for r in rows]


async def open_session(
    session: AsyncSession,
    request: SessionRequest,
    *,
    chat_id: int | None,
    opened_by: int,
    now: dt.datetime | None = None,
    request_key: str | None = None,
) -> SessionView | None:
    """Open a session; None when ``request_key`` (the command's chat and message id) was
    already used, so a /session command delivered twice opens one session."""
    now = now or utcnow()
    if request_key is not None:
        claimed = await insert_or_ignore(
            session,
            Claim,
            {"key": f"session-open:{request_key}", "owner": "sessions", "claimed_at": now},
        )
        if claimed is None:
            return None
    row = StudySession(
        code=new_code(),
        title=request.title,
        kind=request.kind,
        chat_id=chat_id,
        audience=["all"],
        opened_by=opened_by,
        opened_at=now,
        closes_at=now + request.window,
    )
    session.add(row)
    await session.flush()
    return SessionView.of(row)


async def set_message(session: AsyncSession, session_id: int, message_id: int) -> None:
    await session.execute(
        update(StudySession).where(StudySession.id == session_id).values(message_id=message_id)
    )


async def check_in(
    session: AsyncSession,
    config: Config,
    *,
    code: str,
    member_id: int,
    via: str,
    now: dt.datetime | None = None,
) -> CheckinOutcome:
    """Check a member in once; refused once the session is closed or its window is over."""
    now = now or utcnow()
    row = await session.scalar(select(StudySession).where(StudySession.code == code))
    if row is None:
        return CheckinOutcome("unknown")
    view = SessionView.of(row)
    already = await session.scalar(
        select(SessionCheckin.id).where(
            SessionCheckin.session_id == row.id, SessionCheckin.member_id == member_id
        )
    )
    if already is not None:
        return CheckinOutcome("already", view)
    if row.closed_at is not None or now >= view.closes_at:
        return CheckinOutcome("closed", view)
    inserted = await insert_or_ignore(
        session,
        SessionCheckin,
        {"session_id": row.id, "member_id": member_id, "via": via, "checked_in_at": now},
    )
    if inserted is None:
        return CheckinOutcome("already", view)
    result = await award(
        session,
        member_id=member_id,
        kind="session",
        reference=f"session:{row.id}",
        points=config.points.session.points,
        tz=config.tz,
        now=now,
    )
    return CheckinOutcome("checked_in", view, result.points)


async def audience_size(session: AsyncSession) -> int:
    """The active roster: members on the roster or registered, not deactivated."""
    return int(
        await session.scalar(
            select(func.count(Member.id)).where(
                Member.active.is_(True),
                or_(Member.on_roster.is_(True), Member.telegram_id.is_not(None)),
            )
        )
        or 0
    )


async def attendance(session: AsyncSession, session_id: int) -> Attendance | None:
    row = await session.get(StudySession, session_id)
    if row is None:
        return None
    names = list(
        await session.scalars(
            select(Member.name)
            .join(SessionCheckin, SessionCheckin.member_id == Member.id)
            .where(SessionCheckin.session_id == session_id)
            .order_by(SessionCheckin.checked_in_at, SessionCheckin.id)
        )
    )
    return Attendance(SessionView.of(row), len(names), await audience_size(session), names)


async def close_session(
    session: AsyncSession, session_id: int, now: dt.datetime | None = None
) -> Attendance | None:
    """Close a session (once: None when it was already closed)."""
    now = now or utcnow()
    result = await session.execute(
        update(StudySession)
        .where(StudySession.id == session_id, StudySession.closed_at.is_(None))
        .values(closed_at=now)
    )
    if (result.rowcount or 0) != 1:  # type: ignore[attr-defined]
        return None
    return await attendance(session, session_id)


async def expired_sessions(
    session: AsyncSession, now: dt.datetime | None = None
) -> list[tuple[int, dt.datetime]]:
    """Open sessions whose check-in window has ended: (id, end of the window)."""
    now = now or utcnow()
    rows = await session.execute(
        select(StudySession.id, StudySession.closes_at).where(
            StudySession.closed_at.is_(None),
            StudySession.closes_at.is_not(None),
            StudySession.closes_at <= now,
        )
    )
    return [(row.id, row.closes_at) for row in rows]


async def session_by_code(session: AsyncSession, code: str) -> SessionView | None:
    row = await session.scalar(select(StudySession).where(StudySession.code == code))
    return SessionView.of(row) if row is not None else None
