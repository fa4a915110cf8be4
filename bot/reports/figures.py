"""The participation summary of a period, computed once (SPEC §9).

Every output — chat text, the report paragraph, XLSX, DOCX, charts — renders a ``Figures``
object, so they can never disagree. The database aggregates: each query returns at most one
row per member, per question, per trend bucket or per session, never the raw events (the
activity log is the one bounded exception, for the XLSX "raw activity" sheet).

Totals of the large tables (ledger, answers, reads, finished quizzes) come from
``bot/reports/rollups.py``: closed months rolled up, the other days raw, same definitions.

Definitions (where SPEC §9 leaves room):
- Times are bounded by the period's local days in the configured time zone; points by
  ``points_ledger.local_day``.
- Materials pushed (期): distinct (plan item, occurrence) with a delivery sent in the period.
- Sessions: sessions opened in the period, and the check-ins at them (人次). Attendance rate:
  roster members' check-ins / sum over sessions of the roster of their audience.
- Discussions: topics opened in the period; joins (人次) are counted participants of any topic
  counted in the period.
- Quizzes taken (人次): finished private quiz attempts + (live round, member) participations.
- Online activities held: pushes + live rounds + topic discussions.
- Participants: active members with a quiz answer, a confirmed read, a session check-in, a
  counted discussion reply or a reflection (the check-in point alone does not count).
  Participation rate = participants / roster (active members, bound or not).
- Activity counts (人次, answers, points) include members since removed from the roster;
  roster, participants and rates are about the current roster only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.core.periods import Period, iso_week_key, week_start
from bot.db.models import (
    Answer,
    Bank,
    Delivery,
    Department,
    DiscussionParticipant,
    LiveQuestion,
    LiveRound,
    MaterialRead,
    Member,
    Question,
    QuestionVersion,
    Reflection,
    SessionCheckin,
    StudySession,
)
from bot.db.models import Discussion as DiscussionModel
from bot.points.leaderboard import (
    DepartmentEntry,
    DepartmentRow,
    LeaderRow,
    Score,
    rank_departments,
    rank_people,
)
from bot.reports.activity import between, other_activity_pairs, took_part
from bot.reports.rollups import (
    Buckets,
    Cover,
    MemberTotals,
    active_pairs,
    aware,
    bucket_totals,
    cover,
    member_totals,
    question_rows,
    refresh,
)

WEAK_MIN_ANSWERS = 5
WEAK_COUNT = 10
TOP_COUNT = 10
ACTIVITY_LOG_LIMIT = 20000

Progress = Callable[[str], None]


@dataclass
class Scope:
    """Member-based figures of one scope: the unit, a department, or one person."""

    roster: int = 0
    participants: int = 0
    reads: int = 0
    quiz_attempts: int = 0
    live_participations: int = 0
    answers: int = 0
    correct: int = 0
    session_attendance: int = 0
    # Check-ins of roster members and the check-ins expected of the roster (for the rate).
    roster_attendance: int = 0
    expected_attendance: int = 0
    discussion_joins: int = 0
    reflections: int = 0
    points: int = 0
    # Points of roster members: what the department ranking averages.
    roster_points: int = 0

    @property
    def quizzes_taken(self) -> int:
        return self.quiz_attempts + self.live_participations

    @property
    def participations(self) -> int:
        """累计参与人次: every counted learning activity."""
        return (
            self.reads
            + self.quizzes_taken
            + self.session_attendance
            + self.discussion_joins
            + self.reflections
        )

    @property
    def participation_rate(self) -> float | None:
        return self.participants / self.roster if self.roster else None

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.answers if self.answers else None

    @property
    def attendance_rate(self) -> float | None:
        if not self.expected_attendance:
            return None
        return self.roster_attendance / self.expected_attendance

    @property
    def average_points(self) -> float | None:
        return self.roster_points / self.roster if self.roster else None

    def add(self, other: Scope) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class DepartmentFigures:
    department_id: int | None  # None: members without a department
    name: str | None
    figures: Scope


@dataclass(frozen=True)
class PersonFigures:
    member_id: int
    name: str
    department: str | None
    active: bool
    rank: int | None
    figures: Scope

    @property
    def took_part(self) -> bool:
        return self.figures.participants > 0


@dataclass(frozen=True)
class QuestionFigures:
    question_id: int
    bank: str
    qid: str
    text: str
    answers: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.answers if self.answers else 0.0


@dataclass(frozen=True)
class SessionFigures:
    id: int
    title: str
    kind: str
    opened_at: dt.datetime
    attendance: int
    expected: int


@dataclass(frozen=True)
class TrendPoint:
    label: str
    start: dt.date
    end: dt.date
    participants: int
    participations: int
    answers: int
    correct: int
    points: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.answers if self.answers else None


@dataclass(frozen=True)
class ActivityEvent:
    at: dt.datetime
    member_id: int
    name: str
    department: str | None
    activity: str  # answer | read | checkin | discussion | reflection | quiz
    detail: str


@dataclass
class Figures:
    """Everything a report says about a period."""

    organization: str
    period: Period
    generated_at: dt.datetime
    unit: Scope
    materials_pushed: int
    live_rounds: int
    sessions_held: int
    discussions_held: int
    departments: list[DepartmentFigures]
    people: list[PersonFigures]
    top: list[LeaderRow]
    department_ranking: list[DepartmentRow]
    questions: list[QuestionFigures]
    weak_questions: list[QuestionFigures]
    sessions: list[SessionFigures]
    trend_unit: str  # week | month | year
    trend: list[TrendPoint]
    activity_log: list[ActivityEvent] = field(default_factory=list)
    activity_log_truncated: bool = False
    timezone: str = "Asia/Shanghai"

    @property
    def period_tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def online_activities(self) -> int:
        return self.materials_pushed + self.live_rounds + self.discussions_held

    @property
    def is_empty(self) -> bool:
        return self.unit.participations == 0 and self.unit.points == 0


# --- queries ------------------------------------------------------------------------------


async def _per_member(session: AsyncSession, query: Select) -> dict[int, tuple[int, ...]]:
    return {row[0]: tuple(int(v or 0) for v in row[1:]) for row in await session.execute(query)}


def _audience_departments(audience: Any, names: dict[str, int]) -> set[int] | None:
    """Department ids a session is meant for; None = everyone (empty, "all", group ids)."""
    if not audience:
        return None
    items = audience if isinstance(audience, list) else [audience]
    depts: set[int] = set()
    for item in items:
        if isinstance(item, str) and item.strip().lower() in ("all", "全体", "全部"):
            return None
        if isinstance(item, str) and item in names:
            depts.add(names[item])
        else:
            return None  # a group chat or an unknown name: treat as open to all
    return depts or None


def trend_buckets(period: Period) -> tuple[str, list[tuple[str, dt.date, dt.date]]]:
    """Weekly buckets up to a quarter, monthly up to three years, yearly beyond."""
    buckets: list[tuple[str, dt.date, dt.date]] = []
    if period.days <= 92:
        unit = "week"
        start = period.start
        while start <= period.end:
            end = min(week_start(start) + dt.timedelta(days=6), period.end)
            buckets.append((iso_week_key(start), start, end))
            start = end + dt.timedelta(days=1)
    elif period.days <= 3 * 366:
        unit = "month"
        start = period.start
        while start <= period.end:
            nxt = (start.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            end = min(nxt - dt.timedelta(days=1), period.end)
            buckets.append((f"{start.year}-{start.month:02d}", start, end))
            start = end + dt.timedelta(days=1)
    else:
        unit = "year"
        start = period.start
        while start <= period.end:
            end = min(dt.date(start.year, 12, 31), period.end)
            buckets.append((str(start.year), start, end))
            start = end + dt.timedelta(days=1)
    return unit, buckets


async def compute_figures(
    session: AsyncSession,
    config: Config,
    period: Period,
    *,
    activity_log: bool = True,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> Figures:
    """All figures of ``period`` for the unit, per department, per person and per question.

    ``now`` stamps the figures and decides which months are closed for the rollups.
    """
    tz = config.tz
    start, end = period.bounds_utc(tz)
    step = progress or (lambda _label: None)
    step("rollups")
    through = await refresh(session, tz, now)
    whole = cover(period.start, period.end, through)

    # Members and departments (one row each).
    step("members")
    dept_rows = list(
        await session.execute(
            select(Department.id, Department.name, Department.sort_order).order_by(
                Department.sort_order, Department.id
            )
        )
    )
    dept_names: dict[int | None, str] = {d_id: name for d_id, name, _ in dept_rows}
    dept_ids_by_name = {name: d_id for d_id, name, _ in dept_rows}
    members = {
        row[0]: row
        for row in await session.execute(
            select(Member.id, Member.name, Member.department_id, Member.active)
        )
    }

    # Per member aggregates.
    step("points and answers")
    totals = await member_totals(session, tz, whole)
    step("live rounds")
    live_pairs = (
        select(Answer.member_id.label("member_id"), LiveQuestion.round_id.label("round_id"))
        .join(LiveQuestion, LiveQuestion.id == Answer.live_question_id)
        .where(Answer.live_question_id.is_not(None), between(Answer.answered_at, start, end))
        .distinct()
        .subquery()
    )
    live = await _per_member(
        session,
        select(live_pairs.c.member_id, func.count()).group_by(live_pairs.c.member_id),
    )
    step("sessions")
    session_rows = list(
        await session.execute(
            select(
                StudySession.id,
                StudySession.title,
                StudySession.kind,
                StudySession.opened_at,
                StudySession.audience,
            )
            .where(between(StudySession.opened_at, start, end))
            .order_by(StudySession.opened_at, StudySession.id)
        )
    )
    checkin_pairs = (
        list(
            await session.execute(
                select(SessionCheckin.session_id, SessionCheckin.member_id)
                .join(StudySession, StudySession.id == SessionCheckin.session_id)
                .where(between(StudySession.opened_at, start, end))
            )
        )
        if session_rows
        else []
    )
    step("discussions")
    joins = await _per_member(
        session,
        select(DiscussionParticipant.member_id, func.count())
        .where(between(DiscussionParticipant.counted_at, start, end))
        .group_by(DiscussionParticipant.member_id),
    )
    reflections = await _per_member(
        session,
        select(Reflection.member_id, func.count())
        .where(between(Reflection.created_at, start, end))
        .group_by(Reflection.member_id),
    )

    # Roster per department, sessions' expected attendance.
    roster: dict[int | None, int] = {}
    for _id, _name, dept_id, active in members.values():
        if active:
            roster[dept_id] = roster.get(dept_id, 0) + 1
    audiences = {
        sid: _audience_departments(audience, dept_ids_by_name)
        for sid, _t, _k, _o, audience in session_rows
    }

    def expected_for(dept_id: int | None) -> int:
        return sum(
            roster.get(dept_id, 0)
            for sid in audiences
            if audiences[sid] is None or dept_id in (audiences[sid] or ())
        )

    checkins_by_member: dict[int, int] = {}
    checkins_by_session: dict[int, int] = {}
    for sid, member_id in checkin_pairs:
        checkins_by_member[member_id] = checkins_by_member.get(member_id, 0) + 1
        if members.get(member_id) and members[member_id][3]:
            checkins_by_session[sid] = checkins_by_session.get(sid, 0) + 1

    # Per person → per department → unit.
    step("people")
    people_scopes: dict[int, Scope] = {}
    nothing = MemberTotals()
    for member_id, (_mid, _name, _dept, active) in members.items():
        own = totals.get(member_id, nothing)
        scope = Scope(
            roster=1 if active else 0,
            reads=own.reads,
            quiz_attempts=own.quizzes,
            live_participations=live.get(member_id, (0,))[0],
            answers=own.answers,
            correct=own.correct,
            session_attendance=checkins_by_member.get(member_id, 0),
            roster_attendance=checkins_by_member.get(member_id, 0) if active else 0,
            discussion_joins=joins.get(member_id, (0,))[0],
            reflections=reflections.get(member_id, (0,))[0],
            points=own.points,
        )
        scope.roster_points = scope.points if active else 0
        active_learner = took_part(
            scope.answers,
            scope.reads,
            scope.session_attendance,
            scope.discussion_joins,
            scope.reflections,
        )
        scope.participants = 1 if (active and active_learner) else 0
        people_scopes[member_id] = scope

    dept_scopes: dict[int | None, Scope] = {d_id: Scope() for d_id, _n, _o in dept_rows}
    for member_id, scope in people_scopes.items():
        dept_id = members[member_id][2]
        dept_scopes.setdefault(dept_id, Scope()).add(scope)
    for dept_id, scope in dept_scopes.items():
        scope.expected_attendance = expected_for(dept_id)
    unit = Scope()
    for scope in dept_scopes.values():
        unit.add(scope)

    departments = [DepartmentFigures(d_id, name, dept_scopes[d_id]) for d_id, name, _o in dept_rows]
    if None in dept_scopes and (
        dept_scopes[None].roster or dept_scopes[None].participations or dept_scopes[None].points
    ):
        departments.append(DepartmentFigures(None, None, dept_scopes[None]))

    # Rankings from the same numbers.
    counts = {m: (s.answers, s.correct) for m, s in people_scopes.items()}
    scores = [
        Score(
            member_id=m,
            name=members[m][1],
            department_id=members[m][2],
            department=dept_names.get(members[m][2]),
            points=own.points,
            reached_at=own.last_award_at,
        )
        for m, own in totals.items()
        if own.points > 0 and m in members and members[m][3]
    ]
    ranked = rank_people(scores, counts)
    rank_of = {row.member_id: row.rank for row in ranked}
    department_ranking = rank_departments(
        DepartmentEntry(
            d_id,
            name,
            order,
            dept_scopes[d_id].roster,
            dept_scopes[d_id].roster_points,
            dept_scopes[d_id].participants,
        )
        for d_id, name, order in dept_rows
    )
    people = sorted(
        (
            PersonFigures(
                member_id=m,
                name=members[m][1],
                department=dept_names.get(members[m][2]),
                active=bool(members[m][3]),
                rank=rank_of.get(m),
                figures=scope,
            )
            for m, scope in people_scopes.items()
            if members[m][3] or scope.participations or scope.points
        ),
        key=lambda p: (p.rank is None, p.rank or 0, not p.active, p.member_id),
    )

    # Unit-level counts of what was held.
    step("activities")
    pushes = (
        select(Delivery.plan_item_id, Delivery.occurrence)
        .where(Delivery.status == "sent", between(Delivery.occurrence, start, end))
        .distinct()
        .subquery()
    )
    materials_pushed = int(await session.scalar(select(func.count()).select_from(pushes)) or 0)
    live_rounds = int(
        await session.scalar(
            select(func.count())
            .select_from(LiveRound)
            .where(between(LiveRound.created_at, start, end))
        )
        or 0
    )
    discussions_held = int(
        await session.scalar(
            select(func.count())
            .select_from(DiscussionModel)
            .where(between(DiscussionModel.opened_at, start, end))
        )
        or 0
    )
    sessions = [
        SessionFigures(
            id=sid,
            title=title,
            kind=kind,
            opened_at=aware(opened) or start,
            attendance=sum(1 for s, _m in checkin_pairs if s == sid),
            expected=sum(
                roster.get(d, 0)
                for d in roster
                if audiences[sid] is None or d in (audiences[sid] or ())
            ),
        )
        for sid, title, kind, opened, _aud in session_rows
    ]

    step("questions")
    questions = await _question_figures(session, tz, whole)
    weak = sorted(
        (q for q in questions if q.answers >= WEAK_MIN_ANSWERS),
        key=lambda q: (q.accuracy, -q.answers, q.question_id),
    )[:WEAK_COUNT]

    step("trend")
    trend_unit, trend = await _trend(session, config, period, through)

    log: list[ActivityEvent] = []
    truncated = False
    if activity_log:
        step("activity log")
        log, truncated = await _activity_log(session, start, end, members, dept_names)

    return Figures(
        organization=config.organization,
        period=period,
        generated_at=now or dt.datetime.now(dt.UTC),
        unit=unit,
        materials_pushed=materials_pushed,
        live_rounds=live_rounds,
        sessions_held=len(session_rows),
        discussions_held=discussions_held,
        departments=departments,
        people=people,
        top=ranked[:TOP_COUNT],
        department_ranking=department_ranking,
        questions=questions,
        weak_questions=weak,
        sessions=sessions,
        trend_unit=trend_unit,
        trend=trend,
        activity_log=log,
        activity_log_truncated=truncated,
        timezone=config.timezone,
    )


async def _question_figures(
    session: AsyncSession, tz: ZoneInfo, whole: Cover
) -> list[QuestionFigures]:
    per_question = question_rows(whole, tz)
    if per_question is None:
        return []
    counts = per_question.subquery()
    rows = await session.execute(
        select(
            counts.c.question_id,
            Bank.title,
            Question.qid,
            QuestionVersion.text,
            counts.c.answers,
            counts.c.correct,
        )
        .join(Question, Question.id == counts.c.question_id)
        .join(Bank, Bank.id == Question.bank_id)
        .outerjoin(QuestionVersion, QuestionVersion.id == Question.current_version_id)
    )
    result = [
        QuestionFigures(
            question_id=qid_pk,
            bank=bank,
            qid=qid,
            text=text or "",
            answers=int(n),
            correct=int(c or 0),
        )
        for qid_pk, bank, qid, text, n, c in rows
    ]
    result.sort(key=lambda q: (q.accuracy, -q.answers, q.question_id))
    return result


async def _trend(
    session: AsyncSession, config: Config, period: Period, through: dt.date | None
) -> tuple[str, list[TrendPoint]]:
    tz = config.tz
    unit, buckets = trend_buckets(period)
    start, end = period.bounds_utc(tz)
    bucketing = Buckets(tuple(b_start for _label, b_start, _e in buckets), tz)
    # Rolled-up months can serve a bucket only when they lie inside it.
    split = cover(period.start, period.end, through, bucketing.boundaries)

    sums = await bucket_totals(session, tz, split, bucketing)
    participations = [s.reads + s.quizzes for s in sums]
    for column in (
        StudySession.opened_at,
        DiscussionParticipant.counted_at,
        Reflection.created_at,
    ):
        b = bucketing.of_instant(column).label("b")
        query = select(b, func.count()).where(between(column, start, end)).group_by(b)
        if column is StudySession.opened_at:
            query = query.select_from(SessionCheckin).join(
                StudySession, StudySession.id == SessionCheckin.session_id
            )
        for bucket, cnt in await session.execute(query):
            participations[bucket] += int(cnt)
    live_pairs = (
        select(
            bucketing.of_instant(Answer.answered_at).label("b"),
            Answer.member_id,
            LiveQuestion.round_id,
        )
        .join(LiveQuestion, LiveQuestion.id == Answer.live_question_id)
        .where(Answer.live_question_id.is_not(None), between(Answer.answered_at, start, end))
        .distinct()
        .subquery()
    )
    for bucket, cnt in await session.execute(
        select(live_pairs.c.b, func.count()).group_by(live_pairs.c.b)
    ):
        participations[bucket] += int(cnt)

    # Distinct roster members taking part, per bucket: UNION removes repeated pairs.
    participants = [0] * len(buckets)
    pairs = union(
        *active_pairs(split, tz, bucketing),
        *other_activity_pairs(start, end, bucketing.of_instant),
    ).subquery()
    for bucket, cnt in await session.execute(
        select(pairs.c.b, func.count())
        .join(Member, Member.id == pairs.c.member_id)
        .where(Member.active.is_(True))
        .group_by(pairs.c.b)
    ):
        participants[bucket] += int(cnt)

    trend = [
        TrendPoint(
            label=label,
            start=b_start,
            end=b_end,
            participants=participants[i],
            participations=participations[i],
            answers=sums[i].answers,
            correct=sums[i].correct,
            points=sums[i].points,
        )
        for i, (label, b_start, b_end) in enumerate(buckets)
    ]
    return unit, trend


async def _activity_log(
    session: AsyncSession,
    start: dt.datetime,
    end: dt.datetime,
    members: dict[int, Any],
    dept_names: dict[int | None, str],
) -> tuple[list[ActivityEvent], bool]:
    """The most recent events of the period, newest first, at most ACTIVITY_LOG_LIMIT."""
    limit = ACTIVITY_LOG_LIMIT + 1
    sources: list[tuple[str, Select]] = [
        (
            "answer",
            select(
                Answer.answered_at,
                Answer.member_id,
                Answer.mode,
                Answer.correct,
                Question.qid,
            )
            .join(Question, Question.id == Answer.question_id)
            .where(between(Answer.answered_at, start, end))
            .order_by(Answer.answered_at.desc())
            .limit(limit),
        ),
        (
            "read",
            select(MaterialRead.read_at, MaterialRead.member_id, MaterialRead.plan_item_id)
            .where(between(MaterialRead.read_at, start, end))
            .order_by(MaterialRead.read_at.desc())
            .limit(limit),
        ),
        (
            "checkin",
            select(SessionCheckin.checked_in_at, SessionCheckin.member_id, StudySession.title)
            .join(StudySession, StudySession.id == SessionCheckin.session_id)
            .where(between(StudySession.opened_at, start, end))
            .order_by(SessionCheckin.checked_in_at.desc())
            .limit(limit),
        ),
        (
            "discussion",
            select(
                DiscussionParticipant.counted_at,
                DiscussionParticipant.member_id,
                DiscussionModel.title,
            )
            .join(DiscussionModel, DiscussionModel.id == DiscussionParticipant.discussion_id)
            .where(between(DiscussionParticipant.counted_at, start, end))
            .order_by(DiscussionParticipant.counted_at.desc())
            .limit(limit),
        ),
        (
            "reflection",
            select(Reflection.created_at, Reflection.member_id, func.length(Reflection.text))
            .where(between(Reflection.created_at, start, end))
            .order_by(Reflection.created_at.desc())
            .limit(limit),
        ),
    ]
    events: list[ActivityEvent] = []
    for activity, query in sources:
        for row in await session.execute(query):
            at = aware(row[0])
            member = members.get(row[1])
            if at is None or member is None:
                continue
            if activity == "answer":
                detail = f"{row[2]} {row[4]} {'✔' if row[3] else '✘'}"
            elif activity == "read":
                detail = f"#{row[2]}"
            elif activity == "reflection":
                detail = str(row[2])
            else:
                detail = str(row[2])
            events.append(
                ActivityEvent(at, row[1], member[1], dept_names.get(member[2]), activity, detail)
            )
    events.sort(key=lambda e: e.at, reverse=True)
    truncated = len(events) > ACTIVITY_LOG_LIMIT
    return events[:ACTIVITY_LOG_LIMIT], truncated
