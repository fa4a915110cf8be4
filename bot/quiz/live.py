"""Group live quizzes (Kahoot in the group chat): rounds of timed Telegram polls.

A round lives in the database only (``live_rounds``, ``live_questions``, ``answers``), so a
restart or a second replica carries on where things were. ``LiveQuizRunner.advance`` moves a
round forward whenever it is called (a one-second scheduler tick, and right after
``/livequiz``): it closes and scores a question whose poll period is over, sends the next
question when its time has come, and at the end awards the points and posts the ranking.

Everything that must happen once is claimed in the database before it is done, with a
conditional UPDATE whose row count says who won (``… WHERE next_position = :p``, ``… WHERE
closed = false``, ``… WHERE status = 'running'``) or a ``claims`` row. Sending is therefore
at most once: a crash in the few milliseconds between claiming a question and Telegram's
answer loses that question (it is closed without a poll) rather than sending it twice.

Answers: quiz polls (single choice, true/false) cannot be changed, so the first vote stands.
The multiple-choice poll is a regular poll sent with ``allows_revoting=False``; should a
changed vote or a retraction arrive anyway, the latest vote before the question closes counts
(with its own time) and a retraction removes the pending answer. Votes that arrive after the
question was closed are ignored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from bot.db.models import (
    Answer,
    Bank,
    Claim,
    Department,
    LiveQuestion,
    LiveRound,
    Member,
    Question,
    QuestionVersion,
)
from bot.db.types import utcnow
from bot.db.upsert import insert_or_ignore
from bot.i18n import translator
from bot.points.ledger import award
from bot.quiz.live_polls import (
    PollLimits,
    PollPlan,
    QuestionContent,
    fits_poll,
    given_answer,
    is_correct,
    plan_poll,
)
from bot.quiz.live_scoring import MemberTotals, ScoredAnswer, Standing, question_points, standings
from bot.sending import (
    ChatMigrated,
    ChatNotFound,
    RecipientUnreachable,
    Sender,
    SendError,
)

log = logging.getLogger(__name__)

DEFAULT_QUESTIONS = 5
MAX_QUESTIONS = 50
DEFAULT_SECONDS = 20
MAX_SECONDS = 600
# Between a question closing and the next poll: time to see the right answer.
PAUSE = dt.timedelta(seconds=3)
# Votes cast just before Telegram closed the poll may still be on their way to us.
CLOSE_GRACE = dt.timedelta(seconds=1)
# A question claimed for sending whose poll id never got recorded (crash mid-send).
LOST_SEND_AFTER = dt.timedelta(seconds=30)
# A round this far behind its schedule (the bot was away) is ended, not resumed.
ABANDON_AFTER = dt.timedelta(minutes=10)
# A finished round whose ranking was never posted is retried for this long.
RESULT_RETRY_WINDOW = dt.timedelta(minutes=10)
RESULT_LINES = 50
ANSWER_KIND = "live"
LEDGER_KIND = "live_quiz"


# ----------------------------------------------------------------------------- arguments


class LiveArgsError(ValueError):
    """``/livequiz`` arguments that cannot be used; ``code`` says which."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code  # usage | count | seconds


@dataclass(frozen=True)
class LiveArgs:
    bank: str
    count: int = DEFAULT_QUESTIONS
    seconds: int = DEFAULT_SECONDS


def seconds_range(limits: PollLimits) -> tuple[int, int]:
    return max(limits.min_open_period, 5), MAX_SECONDS


def parse_args(args: Sequence[str], limits: PollLimits) -> LiveArgs:
    """``BANK [N] [SECONDS]`` → LiveArgs, or LiveArgsError."""
    if not 1 <= len(args) <= 3:
        raise LiveArgsError("usage")
    bank = args[0].strip().lower()
    if not bank:
        raise LiveArgsError("usage")
    count = DEFAULT_QUESTIONS
    seconds = DEFAULT_SECONDS
    if len(args) >= 2:
        try:
            count = int(args[1])
        except ValueError:
            raise LiveArgsError("count") from None
        if not 1 <= count <= MAX_QUESTIONS:
            raise LiveArgsError("count")
    if len(args) == 3:
        try:
            seconds = int(args[2])
        except ValueError:
            raise LiveArgsError("seconds") from None
        low, high = seconds_range(limits)
        if not low <= seconds <= high:
            raise LiveArgsError("seconds")
    return LiveArgs(bank, count, seconds)


# ----------------------------------------------------------------------------- starting


@dataclass(frozen=True)
class StartResult:
    status: str  # started | running | no_bank | no_questions
    round_id: int | None = None
    title: str | None = None
    count: int = 0
    seconds: int = 0


def _content(version: QuestionVersion) -> QuestionContent:
    return QuestionContent(
        type=version.type,
        text=version.text,
        options=list(version.options or []),
        answer=list(version.answer or []),
        explanation=version.explanation,
    )


async def running_round(session: AsyncSession, chat_id: int) -> LiveRound | None:
    return await session.scalar(
        select(LiveRound).where(LiveRound.chat_id == chat_id, LiveRound.status == "running")
    )


async def start_round(
    session: AsyncSession,
    *,
    chat_id: int,
    args: LiveArgs,
    started_by: int | None,
    limits: PollLimits,
    locale: str,
    now: dt.datetime | None = None,
    rng: random.Random | None = None,
) -> StartResult:
    """Create a running round with its questions drawn from the bank (blanks skipped).

    The partial unique index on running rounds per chat makes a concurrent second start
    fail in the database; that is reported as ``running``.
    """
    now = now or utcnow()
    rng = rng or random.Random()
    if await running_round(session, chat_id) is not None:
        return StartResult("running")
    bank = await session.scalar(select(Bank).where(Bank.slug == args.bank))
    if bank is None:
        return StartResult("no_bank")
    versions = (
        await session.scalars(
            select(QuestionVersion)
            .join(Question, Question.current_version_id == QuestionVersion.id)
            .where(Question.bank_id == bank.id, Question.retired.is_(False))
            .order_by(Question.position, Question.id)
        )
    ).all()
    eligible = [v for v in versions if fits_poll(_content(v), limits)]
    if not eligible:
        return StartResult("no_questions", title=bank.title)
    chosen = rng.sample(eligible, min(args.count, len(eligible)))
    live_round = LiveRound(
        chat_id=chat_id,
        bank_id=bank.id,
        started_by=started_by,
        n_questions=len(chosen),
        seconds=args.seconds,
        status="running",
        next_position=0,
        next_at=now,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(live_round)
            await session.flush()
    except IntegrityError:
        return StartResult("running")
    for position, version in enumerate(chosen):
        plan = plan_poll(
            _content(version), number=position + 1, total=len(chosen), locale=locale, limits=limits
        )
        session.add(
            LiveQuestion(
                round_id=live_round.id,
                position=position,
                question_version_id=version.id,
                poll_type="quiz" if plan.quiz else "regular",
                option_map=plan.option_map,
                correct_option_ids=plan.correct_ids,
            )
        )
    await session.flush()
    return StartResult("started", live_round.id, bank.title, len(chosen), args.seconds)


# ----------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class AnswerResult:
    # recorded | changed | retracted | duplicate | closed | unknown_poll | unregistered | ignored
    status: str
    correct: bool | None = None


async def record_answer(
    session: AsyncSession,
    *,
    poll_id: str,
    member_id: int | None,
    option_ids: Sequence[int],
    now: dt.datetime | None = None,
) -> AnswerResult:
    """Record a ``poll_answer`` idempotently (unique per question and member).

    The question row is read with a shared lock on PostgreSQL, so closing it (an UPDATE)
    waits for answers being written and scores exactly the answers that made it in.
    """
    now = now or utcnow()
    row = (
        await session.execute(
            select(LiveQuestion, QuestionVersion.question_id)
            .join(QuestionVersion, QuestionVersion.id == LiveQuestion.question_version_id)
            .where(LiveQuestion.poll_id == poll_id)
            .with_for_update(read=True, of=LiveQuestion)
        )
    ).first()
    if row is None:
        return AnswerResult("unknown_poll")
    question, question_id = row
    if question.closed:
        return AnswerResult("closed")
    if member_id is None:
        return AnswerResult("unregistered")
    ids = sorted({i for i in option_ids if 0 <= i < len(question.option_map)})
    existing = await session.scalar(
        select(Answer).where(Answer.live_question_id == question.id, Answer.member_id == member_id)
    )
    if not ids:
        if question.poll_type == "regular" and existing is not None:
            await session.execute(delete(Answer).where(Answer.id == existing.id))
            return AnswerResult("retracted")
        return AnswerResult("ignored")
    correct = is_correct(ids, list(question.correct_option_ids))
    elapsed = 0
    if question.sent_at is not None:
        elapsed = max(0, int((now - question.sent_at).total_seconds() * 1000))
        live_round = await session.get(LiveRound, question.round_id)
        if live_round is not None:
            elapsed = min(elapsed, live_round.seconds * 1000)
    given = given_answer(list(question.option_map), ids)
    if existing is not None:
        if question.poll_type != "regular" or existing.given == given:
            return AnswerResult("duplicate", existing.correct)
        existing.given = given
        existing.correct = correct
        existing.elapsed_ms = elapsed
        existing.answered_at = now
        return AnswerResult("changed", correct)
    inserted = await insert_or_ignore(
        session,
        Answer,
        {
            "member_id": member_id,
            "question_id": question_id,
            "question_version_id": question.question_version_id,
            "live_question_id": question.id,
            "mode": ANSWER_KIND,
            "given": given,
            "correct": correct,
            "late": False,
            "elapsed_ms": elapsed,
            "points": 0,
            "answered_at": now,
        },
    )
    return AnswerResult("recorded" if inserted else "duplicate", correct)


async def sending_in_progress(session: AsyncSession) -> bool:
    """A poll is being sent right now (claimed, poll id not yet recorded): a vote for a
    poll we do not know yet may be for that one."""
    found = await session.scalar(
        select(LiveQuestion.id)
        .where(
            LiveQuestion.sent_at.is_not(None),
            LiveQuestion.poll_id.is_(None),
            LiveQuestion.closed.is_(False),
        )
        .limit(1)
    )
    return found is not None


async def poll_closed(
    session: AsyncSession, *, poll_id: str, now: dt.datetime | None = None
) -> int | None:
    """Telegram reports the poll closed: the question is due now (after the grace period).

    Returns the round id when the poll is one of ours and still open here.
    """
    now = now or utcnow()
    question = await session.scalar(
        select(LiveQuestion).where(LiveQuestion.poll_id == poll_id, LiveQuestion.closed.is_(False))
    )
    if question is None:
        return None
    if question.closes_at is None or question.closes_at > now:
        question.closes_at = now
    return question.round_id


# ----------------------------------------------------------------------------- scoring


async def score_question(
    session: AsyncSession, question_id: int, per_correct: int, speed_bonus: Sequence[int]
) -> None:
    rows = (
        await session.execute(
            select(
                Answer.id, Answer.member_id, Answer.correct, Answer.elapsed_ms, Answer.answered_at
            ).where(Answer.live_question_id == question_id)
        )
    ).all()
    scored = [ScoredAnswer(r[0], r[1], bool(r[2]), int(r[3] or 0), r[4]) for r in rows]
    by_points: dict[int, list[int]] = {}
    for answer_id, points in question_points(scored, per_correct, speed_bonus).items():
        by_points.setdefault(points, []).append(answer_id)
    for points, ids in by_points.items():  # a handful of distinct values: few statements
        for start in range(0, len(ids), 500):
            await session.execute(
                update(Answer)
                .where(Answer.id.in_(ids[start : start + 500]))
                .values(points=points)
                .execution_options(synchronize_session=False)
            )


async def round_standings(session: AsyncSession, round_id: int) -> list[Standing]:
    correct_int = case((Answer.correct.is_(True), 1), else_=0)
    correct_time = case((Answer.correct.is_(True), Answer.elapsed_ms), else_=0)
    rows = (
        await session.execute(
            select(
                Answer.member_id,
                Member.name,
                Department.name,
                func.count(Answer.id),
                func.coalesce(func.sum(correct_int), 0),
                func.coalesce(func.sum(Answer.points), 0),
                func.coalesce(func.sum(correct_time), 0),
            )
            .join(LiveQuestion, LiveQuestion.id == Answer.live_question_id)
            .join(Member, Member.id == Answer.member_id)
            .outerjoin(Department, Department.id == Member.department_id)
            .where(LiveQuestion.round_id == round_id, LiveQuestion.closed.is_(True))
            .group_by(Answer.member_id, Member.name, Department.name)
        )
    ).all()
    return standings(
        [MemberTotals(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6])) for r in rows]
    )


# ----------------------------------------------------------------------------- texts


def announcement_text(
    locale: str, *, title: str, count: int, seconds: int, per_correct: int, bonus: Sequence[int]
) -> str:
    _ = translator(locale)
    lines = [
        _(
            "Live quiz: {title} — {count} questions, {seconds} seconds each.",
            title=title,
            count=count,
            seconds=seconds,
        ),
        _("Each correct answer earns {points} points.", points=per_correct),
    ]
    if any(bonus):
        lines.append(
            _(
                "The fastest correct answers earn {bonus} bonus points.",
                bonus="/".join(str(b) for b in bonus),
            )
        )
    lines.append(
        _(
            "Answer in the polls below. Only registered members score: "
            "send /start to me in a private chat to register."
        )
    )
    return "\n".join(lines)


def results_text(
    locale: str, *, title: str, status: str, asked: int, total: int, rows: Sequence[Standing]
) -> str:
    _ = translator(locale)
    if status == "stopped" and asked < total:
        head = _(
            "Live quiz stopped: {title} ({asked} of {total} questions)",
            title=title,
            asked=asked,
            total=total,
        )
    else:
        head = _("Live quiz over: {title} ({asked} questions)", title=title, asked=asked)
    lines = [f"🏁 {head}"]
    if not rows:
        lines.append(_("Nobody answered."))
        return "\n".join(lines)
    lines.append(_("Ranking:"))
    medals = {1: "🥇", 2: "🥈", 3: "🥉"}
    for row in rows[:RESULT_LINES]:
        who = f"{row.name}（{row.department}）" if row.department else row.name
        lines.append(
            _(
                "{medal}{rank}. {who} — {correct} correct, {points} points",
                medal=medals.get(row.rank, ""),
                rank=row.rank,
                who=who,
                correct=row.correct,
                points=row.points,
            )
        )
    if len(rows) > RESULT_LINES:
        lines.append(_("… and {n} more.", n=len(rows) - RESULT_LINES))
    lines.append(
        _("{n} took part. The points are in the ledger: send /me to see yours.", n=len(rows))
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the runner


@dataclass(frozen=True)
class _Closing:
    """A question this process closed: what remains to be done outside the transaction."""

    chat_id: int
    message_id: int | None
    reveal: str | None
    finished: bool
    round_id: int


@dataclass(frozen=True)
class _Claimed:
    """A question this process claimed for sending."""

    round_id: int
    question_id: int
    chat_id: int
    seconds: int
    plan: PollPlan
    last: bool


@dataclass(frozen=True)
class StopResult:
    status: str  # stopped | none


class LiveQuizRunner:
    """Drives rounds forward; safe to call from several tasks, processes and replicas."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        sender: Sender,
        config: Config,
        limits: PollLimits,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        owner: str = "studybot",
    ) -> None:
        self.db = db
        self.sender = sender
        self.config = config
        self.limits = limits
        self.clock = clock
        self.owner = owner[:64]

    @property
    def locale(self) -> str:
        return self.config.locale

    # --- the tick

    async def tick(self) -> None:
        """Advance every round that may have something due (all running rounds)."""
        now = self.clock()
        async with self.db() as session:
            rows = (
                await session.execute(
                    select(LiveRound.id, LiveRound.status).where(
                        or_(
                            LiveRound.status == "running",
                            and_(
                                LiveRound.result_message_id.is_(None),
                                LiveRound.finished_at > now - RESULT_RETRY_WINDOW,
                            ),
                        )
                    )
                )
            ).all()
        running = [rid for rid, status in rows if status == "running"]
        unposted = [rid for rid, status in rows if status != "running"]
        if running:
            await asyncio.gather(*(self._advance_safely(rid) for rid in running))
        for round_id in unposted:
            await self._post_results_safely(round_id)

    async def _advance_safely(self, round_id: int) -> None:
        try:
            await self.advance(round_id)
        except Exception:
            log.exception("live round %s: advancing failed", round_id)

    async def _post_results_safely(self, round_id: int) -> None:
        try:
            await self.post_results(round_id)
        except Exception:
            log.exception("live round %s: posting the results failed", round_id)

    async def advance(self, round_id: int) -> None:
        """Do whatever is due for the round: close a question, send the next one."""
        for _ in range(4):  # a failed send may make the next question due at once
            progressed = False
            closing = await self._close_due(round_id)
            if closing is not None:
                progressed = True
                await self._after_close(closing)
            claimed = await self._claim_next(round_id)
            if claimed is not None:
                progressed = True
                await self._send(claimed)
            if not progressed:
                return

    # --- closing

    def _plan(self, version: QuestionVersion, position: int, total: int) -> PollPlan:
        return plan_poll(
            _content(version),
            number=position + 1,
            total=total,
            locale=self.locale,
            limits=self.limits,
        )

    async def _close_due(self, round_id: int) -> _Closing | None:
        now = self.clock()
        rule = self.config.points.live_quiz
        async with self.db.begin() as session:
            live_round = await session.get(LiveRound, round_id)
            if live_round is None or live_round.status != "running":
                return None
            question = await session.scalar(
                select(LiveQuestion).where(
                    LiveQuestion.round_id == round_id,
                    LiveQuestion.sent_at.is_not(None),
                    LiveQuestion.closed.is_(False),
                )
            )
            overdue = live_round.next_at is not None and now - live_round.next_at > ABANDON_AFTER
            if question is not None:
                if question.closes_at is not None:
                    due = question.closes_at + CLOSE_GRACE <= now
                    overdue = overdue or now - question.closes_at > ABANDON_AFTER
                else:
                    assert question.sent_at is not None
                    lost_at = (
                        question.sent_at
                        + dt.timedelta(seconds=live_round.seconds)
                        + LOST_SEND_AFTER
                    )
                    due = lost_at <= now
                if not due:
                    return None
                claimed = await session.execute(
                    update(LiveQuestion)
                    .where(LiveQuestion.id == question.id, LiveQuestion.closed.is_(False))
                    .values(closed=True)
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    return None
                await score_question(session, question.id, rule.per_correct, rule.speed_bonus)
                last = question.position + 1 >= live_round.n_questions
                version = await session.get(QuestionVersion, question.question_version_id)
                reveal = None
                if version is not None and question.message_id is not None:
                    reveal = self._plan(version, question.position, live_round.n_questions).reveal
                if last or overdue:
                    status = "finished" if last and not overdue else "stopped"
                    finished = await self._finish(session, live_round, status, now)
                else:
                    finished = False
                    after = max(now, question.closes_at or now)
                    await session.execute(
                        update(LiveRound)
                        .where(LiveRound.id == round_id, LiveRound.status == "running")
                        .values(next_at=after + PAUSE)
                        .execution_options(synchronize_session=False)
                    )
                return _Closing(live_round.chat_id, question.message_id, reveal, finished, round_id)
            if overdue:
                finished = await self._finish(session, live_round, "stopped", now)
                if finished:
                    log.warning("live round %s ended: the bot was away too long", round_id)
                    return _Closing(live_round.chat_id, None, None, True, round_id)
            return None

    async def _finish(
        self, session: AsyncSession, live_round: LiveRound, status: str, now: dt.datetime
    ) -> bool:
        """End the round (once: conditional on it still running) and award its points."""
        ended = await session.execute(
            update(LiveRound)
            .where(LiveRound.id == live_round.id, LiveRound.status == "running")
            .values(status=status, finished_at=now, next_at=None)
            .execution_options(synchronize_session=False)
        )
        if ended.rowcount != 1:  # type: ignore[attr-defined]
            return False
        for row in await round_standings(session, live_round.id):
            if row.points > 0:
                await award(
                    session,
                    member_id=row.member_id,
                    kind=LEDGER_KIND,
                    reference=f"round:{live_round.id}",
                    points=row.points,
                    tz=self.config.tz,
                    now=now,
                )
        log.info("live round %s %s", live_round.id, status)
        return True

    async def _after_close(self, closing: _Closing) -> None:
        if closing.message_id is not None:
            await self._stop_poll(closing.chat_id, closing.message_id)
            if closing.reveal:
                try:
                    await self.sender.send_text(
                        closing.chat_id, closing.reveal, reply_to=closing.message_id
                    )
                except SendError as exc:
                    log.warning("live round %s: reveal not sent: %s", closing.round_id, exc)
        if closing.finished:
            await self.post_results(closing.round_id)

    async def _stop_poll(self, chat_id: int, message_id: int) -> None:
        try:
            await self.sender.stop_poll(chat_id, message_id)
        except SendError as exc:  # closed by Telegram already, or gone: nothing to undo
            log.info("stopPoll %s/%s: %s", chat_id, message_id, exc)

    # --- sending

    async def _claim_next(self, round_id: int) -> _Claimed | None:
        now = self.clock()
        async with self.db.begin() as session:
            live_round = await session.get(LiveRound, round_id)
            if (
                live_round is None
                or live_round.status != "running"
                or live_round.next_at is None
                or live_round.next_at > now
                or live_round.next_position >= live_round.n_questions
            ):
                return None
            position = live_round.next_position
            claimed = await session.execute(
                update(LiveRound)
                .where(
                    LiveRound.id == round_id,
                    LiveRound.status == "running",
                    LiveRound.next_position == position,
                    LiveRound.next_at.is_not(None),
                    LiveRound.next_at <= now,
                )
                .values(next_position=position + 1, next_at=None)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            marked = await session.execute(
                update(LiveQuestion)
                .where(
                    LiveQuestion.round_id == round_id,
                    LiveQuestion.position == position,
                    LiveQuestion.sent_at.is_(None),
                )
                .values(sent_at=now)
                .execution_options(synchronize_session=False)
            )
            if marked.rowcount != 1:  # type: ignore[attr-defined]
                raise RuntimeError(f"live round {round_id}: question {position} already sent")
            row = (
                await session.execute(
                    select(LiveQuestion, QuestionVersion)
                    .join(QuestionVersion, QuestionVersion.id == LiveQuestion.question_version_id)
                    .where(LiveQuestion.round_id == round_id, LiveQuestion.position == position)
                )
            ).one()
            question, version = row
            return _Claimed(
                round_id=round_id,
                question_id=question.id,
                chat_id=live_round.chat_id,
                seconds=live_round.seconds,
                plan=self._plan(version, position, live_round.n_questions),
                last=position + 1 >= live_round.n_questions,
            )

    async def _send(self, claimed: _Claimed) -> None:
        plan = claimed.plan
        intro_id: int | None = None
        try:
            if plan.intro:
                intro = await self.sender.send_text(claimed.chat_id, plan.intro)
                intro_id = intro.message_id
            sent = await self.sender.send_poll(
                claimed.chat_id,
                plan.question,
                plan.options,
                quiz_correct=plan.correct_ids if plan.quiz else None,
                multiple=not plan.quiz,
                explanation=plan.explanation,
                open_period=claimed.seconds,
                reply_to=intro_id,
                allows_revoting=None if plan.quiz else False,
            )
        except (RecipientUnreachable, ChatNotFound) as exc:
            log.warning("live round %s: the group cannot be reached: %s", claimed.round_id, exc)
            await self._skip(claimed, end=True)
            return
        except ChatMigrated as exc:
            log.warning("live round %s: group moved to %s", claimed.round_id, exc.new_chat_id)
            await self._skip(claimed, new_chat_id=exc.new_chat_id)
            return
        except SendError as exc:
            log.error("live round %s: question not sent: %s", claimed.round_id, exc)
            await self._skip(claimed)
            return
        sent_at = self.clock()
        async with self.db.begin() as session:
            recorded = await session.execute(
                update(LiveQuestion)
                .where(LiveQuestion.id == claimed.question_id, LiveQuestion.closed.is_(False))
                .values(
                    poll_id=sent.poll_id,
                    message_id=sent.message_id,
                    intro_message_id=intro_id,
                    sent_at=sent_at,
                    closes_at=sent_at + dt.timedelta(seconds=claimed.seconds),
                )
                .execution_options(synchronize_session=False)
            )
            still_open = recorded.rowcount == 1  # type: ignore[attr-defined]
            if not still_open:  # stopped while we were sending: remember the poll anyway
                await session.execute(
                    update(LiveQuestion)
                    .where(LiveQuestion.id == claimed.question_id)
                    .values(poll_id=sent.poll_id, message_id=sent.message_id)
                    .execution_options(synchronize_session=False)
                )
        if not still_open:
            await self._stop_poll(claimed.chat_id, sent.message_id)

    async def _skip(
        self, claimed: _Claimed, *, end: bool = False, new_chat_id: int | None = None
    ) -> None:
        """The question could not be sent: close it without a poll and move on (or end)."""
        now = self.clock()
        finished = False
        async with self.db.begin() as session:
            await session.execute(
                update(LiveQuestion)
                .where(LiveQuestion.id == claimed.question_id)
                .values(closed=True, closes_at=now)
                .execution_options(synchronize_session=False)
            )
            live_round = await session.get(LiveRound, claimed.round_id)
            if live_round is None or live_round.status != "running":
                return
            if new_chat_id is not None:
                live_round.chat_id = new_chat_id
            if end or claimed.last:
                finished = await self._finish(
                    session, live_round, "stopped" if end else "finished", now
                )
                if finished and end:
                    live_round.result_message_id = 0  # nowhere to post it
            else:
                live_round.next_at = now
        if finished and not end:
            await self.post_results(claimed.round_id)

    # --- results

    async def post_results(self, round_id: int) -> None:
        """Post the ranking once (claimed in ``claims``), and remember its message."""
        async with self.db.begin() as session:
            live_round = await session.get(LiveRound, round_id)
            if (
                live_round is None
                or live_round.status == "running"
                or live_round.result_message_id is not None
            ):
                return
            claimed = await insert_or_ignore(
                session,
                Claim,
                {"key": f"live:{round_id}:results", "owner": self.owner, "claimed_at": utcnow()},
            )
            if not claimed:
                return
            bank = await session.get(Bank, live_round.bank_id)
            rows = await round_standings(session, round_id)
            asked = await session.scalar(
                select(func.count(LiveQuestion.id)).where(
                    LiveQuestion.round_id == round_id, LiveQuestion.poll_id.is_not(None)
                )
            )
            chat_id = live_round.chat_id
            text = results_text(
                self.locale,
                title=bank.title if bank else "",
                status=live_round.status,
                asked=int(asked or 0),
                total=live_round.n_questions,
                rows=rows,
            )
        message_id = 0
        try:
            message_id = (await self.sender.send_text(chat_id, text)).message_id
        except SendError as exc:
            log.warning("live round %s: ranking not posted: %s", round_id, exc)
        async with self.db.begin() as session:
            await session.execute(
                update(LiveRound)
                .where(LiveRound.id == round_id)
                .values(result_message_id=message_id)
                .execution_options(synchronize_session=False)
            )

    # --- stopping

    async def stop(self, chat_id: int) -> StopResult:
        """End the group's running round now: score the open question, award, post."""
        now = self.clock()
        rule = self.config.points.live_quiz
        closing: _Closing | None = None
        async with self.db.begin() as session:
            live_round = await running_round(session, chat_id)
            if live_round is None:
                return StopResult("none")
            question = await session.scalar(
                select(LiveQuestion).where(
                    LiveQuestion.round_id == live_round.id,
                    LiveQuestion.sent_at.is_not(None),
                    LiveQuestion.closed.is_(False),
                )
            )
            reveal = None
            message_id = None
            if question is not None:
                claimed = await session.execute(
                    update(LiveQuestion)
                    .where(LiveQuestion.id == question.id, LiveQuestion.closed.is_(False))
                    .values(closed=True)
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount == 1:  # type: ignore[attr-defined]
                    await score_question(session, question.id, rule.per_correct, rule.speed_bonus)
                    message_id = question.message_id
                    version = await session.get(QuestionVersion, question.question_version_id)
                    if version is not None and message_id is not None:
                        reveal = self._plan(
                            version, question.position, live_round.n_questions
                        ).reveal
            if not await self._finish(session, live_round, "stopped", now):
                return StopResult("none")
            closing = _Closing(live_round.chat_id, message_id, reveal, True, live_round.id)
        await self._after_close(closing)
        return StopResult("stopped")
