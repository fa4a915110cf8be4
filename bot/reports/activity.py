"""What counts as taking part (SPEC §9), as SQL building blocks shared by reports and rankings.

A *participant* in a period is a member with a quiz answer (private or live), a confirmed
read, a check-in at a session held in the period, a counted discussion reply or a reflection.
The daily check-in point alone does not count. Keeping the definition in one place is what
makes the leaderboard's participation rate and the report's agree.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, select, union
from sqlalchemy.sql.elements import ColumnElement

from bot.core.periods import Period
from bot.db.models import (
    Answer,
    DiscussionParticipant,
    MaterialRead,
    Reflection,
    SessionCheckin,
    StudySession,
)


def between(column: ColumnElement, start: dt.datetime, end: dt.datetime) -> ColumnElement[bool]:
    """Half-open ``start <= column < end`` (bounds are UTC, from ``Period.bounds_utc``)."""
    return and_(column >= start, column < end)


def participant_ids(period: Period, tz: ZoneInfo) -> Select:
    """Distinct member ids with a learning activity in ``period`` (one column: member_id)."""
    start, end = period.bounds_utc(tz)
    parts = [
        select(Answer.member_id.label("member_id")).where(between(Answer.answered_at, start, end)),
        select(MaterialRead.member_id).where(between(MaterialRead.read_at, start, end)),
        select(SessionCheckin.member_id)
        .join(StudySession, StudySession.id == SessionCheckin.session_id)
        .where(between(StudySession.opened_at, start, end)),
        select(DiscussionParticipant.member_id).where(
            between(DiscussionParticipant.counted_at, start, end)
        ),
        select(Reflection.member_id).where(between(Reflection.created_at, start, end)),
    ]
    # UNION (not UNION ALL) removes duplicates in the database.
    return select(union(*parts).subquery().c.member_id)
