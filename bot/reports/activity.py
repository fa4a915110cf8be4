"""What counts as taking part (SPEC §9), shared by reports and rankings.

A *participant* in a period is a member with a quiz answer (private or live), a confirmed
read, a check-in at a session held in the period, a counted discussion reply or a reflection.
The daily check-in point alone does not count. Keeping the definition in one place is what
makes the leaderboard's participation rate and the report's agree.

Answers and reads are totalled by ``bot/reports/rollups.py``; the other three activities are
read here from their own tables: they are few, a session's check-ins count on the day the
session opened, and a discussion reply on the day it was sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from bot.db.models import DiscussionParticipant, Reflection, SessionCheckin, StudySession

# A mapped attribute (``Answer.answered_at``) or any SQL expression.
Column = ColumnElement[Any] | QueryableAttribute[Any]
Bucketing = Callable[[Column], ColumnElement[int]]


def between(column: Column, start: dt.datetime, end: dt.datetime) -> ColumnElement[bool]:
    """Half-open ``start <= column < end`` (bounds are UTC, from ``Period.bounds_utc``)."""
    return and_(column >= start, column < end)


def took_part(answers: int, reads: int, checkins: int, joins: int, reflections: int) -> bool:
    """A learning activity of any kind (the check-in point alone is none)."""
    return bool(answers or reads or checkins or joins or reflections)


def other_activity_pairs(
    start: dt.datetime, end: dt.datetime, bucket: Bucketing | None = None
) -> list[Select]:
    """(member_id[, b]) rows of session check-ins, counted discussion replies and reflections
    between ``start`` and ``end`` (``b``: the bucket of the activity's time)."""

    def part(at: Column, member: Column) -> Select:
        columns = [member.label("member_id")]
        if bucket is not None:
            columns.insert(0, bucket(at).label("b"))
        return select(*columns).where(between(at, start, end))

    return [
        part(StudySession.opened_at, SessionCheckin.member_id).join_from(
            SessionCheckin, StudySession, StudySession.id == SessionCheckin.session_id
        ),
        part(DiscussionParticipant.counted_at, DiscussionParticipant.member_id),
        part(Reflection.created_at, Reflection.member_id),
    ]
