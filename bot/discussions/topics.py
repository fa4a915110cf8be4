"""Topic discussions (主题讨论): open a topic in a group, count replies, close and thank.

An admin opens a topic with a title and a window; the bot posts the topic message, and a
member takes part by *replying to that message* (replies to the bot's own messages reach it
even with the group privacy mode on). Each member's first reply that passes the counting rule
(``bot.core.discussion_rules``) within the window makes them a participant once and earns
``points.discussion`` under the daily cap. Several topics may be open in one group at a time:
replies are matched to a topic by the message they reply to.

State lives in the database, so a restart keeps every window: the scheduler re-arms the close
of open topics at start-up, and a periodic sweep closes whatever is due. Closing is *claimed*
by a conditional UPDATE (``closed_at IS NULL``), so with several replicas exactly one of them
posts the result.

Edits: Telegram sends an ``edited_message`` update, and an edit can make a short reply count
(never un-count one: the participation happened and its points stay in the ledger).
Deletions: the Bot API does not tell bots when a group message is deleted, so a deleted reply
keeps counting; admins can correct points with ``/adjust`` if needed.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from bot.core.discussion_rules import reply_counts, substantive_length
from bot.db.models import (
    Claim,
    Department,
    Discussion,
    DiscussionParticipant,
    DiscussionReply,
    Member,
)
from bot.db.types import utcnow
from bot.db.upsert import insert_or_ignore
from bot.i18n import translator
from bot.points.ledger import Cap, award
from bot.sending import Sender, SendError

log = logging.getLogger("studybot.discussions")

DEFAULT_WINDOW = dt.timedelta(hours=24)
MIN_WINDOW = dt.timedelta(minutes=1)
MAX_WINDOW = dt.timedelta(days=30)
TITLE_MAX = 200
REPLY_TEXT_MAX = 4096
# Budget for the names in the result message (Telegram allows 4096 characters).
NAMES_BUDGET = 3000

_WINDOW_RE = re.compile(
    r"^(\d+(?:\.\d+)?)\s*(h|hr|hrs|hour|hours|小时|m|min|mins|minutes|分钟|d|day|days|天)?$",
    re.IGNORECASE,
)


class TopicInputError(ValueError):
    """Bad ``/discuss`` arguments; ``code`` is one of no_title, title_too_long, bad_window."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Topic:
    id: int
    chat_id: int
    message_id: int | None
    title: str
    opened_at: dt.datetime
    closes_at: dt.datetime
    closed_at: dt.datetime | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


def _topic(row: Discussion) -> Topic:
    return Topic(
        row.id,
        row.chat_id,
        row.message_id,
        row.title,
        row.opened_at,
        row.closes_at,
        row.closed_at,
    )


# --- arguments -----------------------------------------------------------------------------


def parse_window(token: str) -> dt.timedelta | None:
    """``2``/``1.5``/``2h`` hours, ``90m`` minutes, ``3d`` days (也可 ``2小时``/``30分钟``/``3天``)."""
    match = _WINDOW_RE.match(token.strip())
    if match is None:
        return None
    amount = float(match.group(1))
    unit = (match.group(2) or "h").lower()
    if unit in ("m", "min", "mins", "minutes", "分钟"):
        return dt.timedelta(minutes=amount)
    if unit in ("d", "day", "days", "天"):
        return dt.timedelta(days=amount)
    return dt.timedelta(hours=amount)


def parse_discuss_args(args: list[str]) -> tuple[str, dt.timedelta]:
    """``TITLE [HOURS]``: the last word is the window when it reads as a duration."""
    words = [w for w in args if w.strip()]
    window = DEFAULT_WINDOW
    if len(words) >= 2:
        parsed = parse_window(words[-1])
        if parsed is not None:
            window = parsed
            words = words[:-1]
    title = " ".join(words).strip()
    if not title:
        raise TopicInputError("no_title")
    if len(title) > TITLE_MAX:
        raise TopicInputError("title_too_long")
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise TopicInputError("bad_window")
    return title, window


# --- opening -------------------------------------------------------------------------------


def format_local(moment: dt.datetime, config: Config) -> str:
    return moment.astimezone(config.tz).strftime("%Y-%m-%d %H:%M")


def render_topic_message(title: str, closes_at: dt.datetime, config: Config) -> str:
    """The topic message, in the unit's language (it is read by the whole group)."""
    _ = translator(config.locale)
    rule = config.points.discussion
    lines = [
        _("📣 Topic discussion: {title}", title=title),
        _("Open until {end}.", end=format_local(closes_at, config)),
    ]
    if rule.points > 0:
        lines.append(
            _(
                "To take part, reply to this message with your view (at least {min_chars} "
                "characters). Each member's first such reply counts and earns {points} points.",
                min_chars=rule.min_chars,
                points=rule.points,
            )
        )
    else:
        lines.append(
            _(
                "To take part, reply to this message with your view (at least {min_chars} "
                "characters). Each member's first such reply counts.",
                min_chars=rule.min_chars,
            )
        )
    return "\n".join(lines)


async def open_topic(
    db: async_sessionmaker[AsyncSession],
    sender: Sender,
    config: Config,
    *,
    chat_id: int,
    title: str,
    window: dt.timedelta,
    opened_by: int | None,
    request_key: str | None = None,
    now: dt.datetime | None = None,
) -> Topic | None:
    """Post the topic message and record the topic; None when ``request_key`` was seen before.

    ``request_key`` (the chat and message id of the ``/discuss`` command) is claimed first, so
    a command delivered twice opens one topic. The message is sent before the row is written:
    a failed send leaves nothing behind.
    """
    now = now or utcnow()
    closes_at = now + window
    if request_key is not None:
        async with db.begin() as session:
            claimed = await insert_or_ignore(
                session,
                Claim,
                {"key": f"discuss-open:{request_key}", "owner": "discussions", "claimed_at": now},
            )
        if claimed is None:
            return None
    sent = await sender.send_text(chat_id, render_topic_message(title, closes_at, config))
    async with db.begin() as session:
        row = Discussion(
            chat_id=chat_id,
            message_id=sent.message_id,
            title=title,
            opened_by=opened_by,
            opened_at=now,
            closes_at=closes_at,
        )
        session.add(row)
        await session.flush()
        topic = _topic(row)
    log.info("topic %s opened in chat %s until %s: %s", topic.id, chat_id, closes_at, title)
    return topic


async def get_topic(session: AsyncSession, topic_id: int) -> Topic | None:
    row = await session.get(Discussion, topic_id)
    return _topic(row) if row is not None else None


async def open_topics(session: AsyncSession, chat_id: int | None = None) -> list[Topic]:
    """Open topics (not closed, with a posted message), oldest first."""
    query = select(Discussion).where(
        Discussion.closed_at.is_(None), Discussion.message_id.is_not(None)
    )
    if chat_id is not None:
        query = query.where(Discussion.chat_id == chat_id)
    rows = await session.scalars(query.order_by(Discussion.opened_at, Discussion.id))
    return [_topic(r) for r in rows]


async def topic_to_close(
    session: AsyncSession, chat_id: int, reply_to_message_id: int | None
) -> Topic | None:
    """The topic ``/discuss close`` means: the one replied to, else the latest open one."""
    if reply_to_message_id is not None:
        row = await session.scalar(
            select(Discussion).where(
                Discussion.chat_id == chat_id, Discussion.message_id == reply_to_message_id
            )
        )
        if row is not None:
            return _topic(row)
    topics = await open_topics(session, chat_id)
    return topics[-1] if topics else None


# --- replies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyOutcome:
    """What a reply did. ``status``: not_topic, unregistered, duplicate, too_short, closed,
    already_counted, counted."""

    status: str
    topic: Topic | None = None
    points: int = 0
    capped: bool = False
    length: int = 0
    min_chars: int = 0


async def record_reply(
    session: AsyncSession,
    config: Config,
    *,
    chat_id: int,
    topic_message_id: int,
    telegram_id: int,
    message_id: int,
    text: str,
    sent_at: dt.datetime,
    edited: bool = False,
) -> ReplyOutcome:
    """Record a reply (or an edit of one) to a topic message and count it if it qualifies.

    ``sent_at`` is Telegram's time of the message (its edit time for an edit), so a
    redelivered update is judged exactly as the first delivery was. The topic row is locked
    (PostgreSQL) so a concurrent close sees this reply either fully or not at all.
    """
    row = await session.scalar(
        select(Discussion)
        .where(Discussion.chat_id == chat_id, Discussion.message_id == topic_message_id)
        .with_for_update()
    )
    if row is None:
        return ReplyOutcome("not_topic")
    topic = _topic(row)
    rule = config.points.discussion
    member_id = await session.scalar(select(Member.id).where(Member.telegram_id == telegram_id))
    if member_id is None:
        return ReplyOutcome("unregistered", topic)
    length = substantive_length(text)
    in_window = topic.closed_at is None and sent_at <= topic.closes_at
    valid = in_window and reply_counts(text, rule.min_chars)
    stored = await session.scalar(
        select(DiscussionReply).where(
            DiscussionReply.discussion_id == topic.id, DiscussionReply.message_id == message_id
        )
    )
    if stored is None:
        reply_id = await insert_or_ignore(
            session,
            DiscussionReply,
            {
                "discussion_id": topic.id,
                "member_id": member_id,
                "message_id": message_id,
                "text": text[:REPLY_TEXT_MAX],
                "counts": valid,
                "deleted": False,
                "created_at": sent_at,
                "edited_at": sent_at if edited else None,
            },
            returning=DiscussionReply.id,
        )
        if reply_id is None:  # a concurrent delivery of the same message won the insert
            return ReplyOutcome("duplicate", topic, length=length, min_chars=rule.min_chars)
    elif not edited:
        return ReplyOutcome("duplicate", topic, length=length, min_chars=rule.min_chars)
    else:
        reply_id = stored.id
        stored.text = text[:REPLY_TEXT_MAX]
        stored.edited_at = sent_at
        stored.counts = stored.counts or valid  # an edit can make a reply count, not uncount
    already = await session.scalar(
        select(DiscussionParticipant.id).where(
            DiscussionParticipant.discussion_id == topic.id,
            DiscussionParticipant.member_id == member_id,
        )
    )
    base = {"topic": topic, "length": length, "min_chars": rule.min_chars}
    if already is not None:
        return ReplyOutcome("already_counted", **base)  # type: ignore[arg-type]
    if not in_window:
        return ReplyOutcome("closed", **base)  # type: ignore[arg-type]
    if not valid:
        return ReplyOutcome("too_short", **base)  # type: ignore[arg-type]
    inserted = await insert_or_ignore(
        session,
        DiscussionParticipant,
        {
            "discussion_id": topic.id,
            "member_id": member_id,
            "reply_id": reply_id,
            "counted_at": sent_at,
        },
    )
    if inserted is None:
        return ReplyOutcome("already_counted", **base)  # type: ignore[arg-type]
    day = sent_at.astimezone(config.tz).date()
    result = await award(
        session,
        member_id=member_id,
        kind="discussion",
        reference=str(topic.id),
        points=rule.points,
        tz=config.tz,
        cap=Cap(rule.daily_cap * rule.points, day, day),
        now=sent_at,
    )
    return ReplyOutcome("counted", points=result.points, capped=result.capped, **base)  # type: ignore[arg-type]


# --- closing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicResult:
    topic: Topic
    participants: list[tuple[str, str | None]] = field(default_factory=list)
    by_department: list[tuple[str | None, int]] = field(default_factory=list)
    replies: int = 0

    @property
    def count(self) -> int:
        return len(self.participants)


async def topic_result(session: AsyncSession, topic_id: int) -> TopicResult | None:
    """Who took part (in the order they counted) and how many per department."""
    topic = await get_topic(session, topic_id)
    if topic is None:
        return None
    rows = (
        await session.execute(
            select(Member.name, Department.name, Department.sort_order)
            .select_from(DiscussionParticipant)
            .join(Member, Member.id == DiscussionParticipant.member_id)
            .outerjoin(Department, Department.id == Member.department_id)
            .where(DiscussionParticipant.discussion_id == topic_id)
            .order_by(DiscussionParticipant.counted_at, DiscussionParticipant.id)
        )
    ).all()
    counts: dict[str | None, int] = {}
    order: dict[str | None, int] = {}
    for _name, dept, sort_order in rows:
        counts[dept] = counts.get(dept, 0) + 1
        order[dept] = sort_order if sort_order is not None else 1_000_000
    by_department = sorted(counts.items(), key=lambda kv: (-kv[1], order[kv[0]], kv[0] or ""))
    replies = await session.scalar(
        select(func.count(DiscussionReply.id)).where(DiscussionReply.discussion_id == topic_id)
    )
    return TopicResult(
        topic,
        [(name, dept) for name, dept, _order in rows],
        by_department,
        int(replies or 0),
    )


def render_result(result: TopicResult, config: Config) -> str:
    """The closing message: how many took part, by department, and thanks by name."""
    _ = translator(config.locale)
    title = result.topic.title
    if result.count == 0:
        return _(
            "The topic discussion \u201c{title}\u201d has ended. Nobody took part this time.",
            title=title,
        )
    separator = "、" if _.is_zh else ", "
    departments = separator.join(
        _("{department} {count}", department=dept or _("(no department)"), count=count)
        for dept, count in result.by_department
    )
    names: list[str] = []
    used = 0
    for name, _dept in result.participants:
        if used + len(name) > NAMES_BUDGET:
            break
        names.append(name)
        used += len(name) + 1
    thanks = separator.join(names)
    if len(names) < result.count:
        thanks += _(" and {more} more", more=result.count - len(names))
    return "\n".join(
        [
            _("The topic discussion \u201c{title}\u201d has ended.", title=title),
            _(
                "Participants: {count} ({departments}).",
                count=result.count,
                departments=departments,
            ),
            _("Thank you, {names}!", names=thanks),
        ]
    )


async def claim_close(session: AsyncSession, topic_id: int, now: dt.datetime) -> bool:
    """Mark the topic closed; True only for the one caller (replica) that closed it."""
    result = await session.execute(
        update(Discussion)
        .where(Discussion.id == topic_id, Discussion.closed_at.is_(None))
        .values(closed_at=now)
    )
    return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def close_topic(
    db: async_sessionmaker[AsyncSession],
    sender: Sender,
    config: Config,
    topic_id: int,
    *,
    now: dt.datetime | None = None,
) -> TopicResult | None:
    """Close a topic and post its result; None when it was already closed (by anyone)."""
    now = now or utcnow()
    async with db.begin() as session:
        if not await claim_close(session, topic_id, now):
            return None
    async with db() as session:
        result = await topic_result(session, topic_id)
    if result is None:
        return None
    topic = result.topic
    text = render_result(result, config)
    sent = None
    try:
        sent = await sender.send_text(topic.chat_id, text, reply_to=topic.message_id)
    except SendError as exc:
        log.warning("topic %s: result as a reply failed (%s); sending it plainly", topic_id, exc)
        try:
            sent = await sender.send_text(topic.chat_id, text)
        except SendError as exc2:
            log.error(
                "topic %s: could not post the result in chat %s: %s", topic_id, topic.chat_id, exc2
            )
    if sent is not None:
        async with db.begin() as session:
            await session.execute(
                update(Discussion)
                .where(Discussion.id == topic_id)
                .values(result_message_id=sent.message_id)
            )
    log.info("topic %s closed: %d participants", topic_id, result.count)
    return result


async def due_topic_ids(session: AsyncSession, now: dt.datetime) -> list[int]:
    rows = await session.scalars(
        select(Discussion.id)
        .where(
            Discussion.closed_at.is_(None),
            Discussion.message_id.is_not(None),
            Discussion.closes_at <= now,
        )
        .order_by(Discussion.closes_at)
    )
    return list(rows)


async def close_due_topics(
    db: async_sessionmaker[AsyncSession],
    sender: Sender,
    config: Config,
    *,
    now: dt.datetime | None = None,
) -> list[int]:
    """Close every topic whose window has ended; returns the ids this caller closed."""
    now = now or utcnow()
    async with db() as session:
        due = await due_topic_ids(session, now)
    closed: list[int] = []
    for topic_id in due:
        if await close_topic(db, sender, config, topic_id, now=now) is not None:
            closed.append(topic_id)
    return closed
