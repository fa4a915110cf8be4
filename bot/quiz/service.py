"""Private-chat quizzes: start or resume an attempt, record answers, award points.

Every piece of state is a row: the attempt (``quiz_attempts``, unique per member, mode and
period), the questions it asks (``attempt_questions``: version, shown option order, the
multiple-choice toggles, the deadline) and each answer (``answers``, unique per asked
question). A restart loses nothing, and a second press, a press on an old message or on
someone else's quiz, or a redelivered update changes nothing: the database refuses the
second answer, the code does not have to remember the first.

Services take a session and plain values and return plain dataclasses; the Telegram
handlers in ``bot/telegram/quiz.py`` render them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot.config import Config
from bot.core import answers as check
from bot.core import scoring
from bot.db.models import (
    Answer,
    AttemptQuestion,
    Bank,
    LedgerEntry,
    Member,
    PendingInput,
    Question,
    QuestionVersion,
    QuizAttempt,
)
from bot.db.types import utcnow
from bot.db.upsert import insert_or_ignore
from bot.members.service import clear_pending_input, set_pending_input
from bot.points.ledger import Cap, award
from bot.quiz import draw, review

BLANK_INPUT = "blank"
MAX_REPEATABLE_PER_DAY = 500


class QuizError(ValueError):
    """A request the service cannot honour (unknown mode, bad arguments)."""


class QuizConflict(Exception):
    """The attempt advanced under this transaction (another replica answered first); the
    caller's transaction must roll back."""


@dataclass(frozen=True)
class QuestionView:
    """One asked question as the member sees it (options in shown order)."""

    attempt_id: int
    aq_id: int
    mode: str
    position: int
    total: int | None
    type: str
    text: str
    options: list[str]
    selection: list[int] = field(default_factory=list)
    seconds: int | None = None
    deadline_at: dt.datetime | None = None


@dataclass(frozen=True)
class Summary:
    mode: str
    questions: int
    correct: int
    points: int
    today_points: int
    season_name: str | None
    season_points: int | None
    total_points: int
    bank_title: str | None = None


@dataclass(frozen=True)
class Campaign:
    bank_id: int
    slug: str
    title: str
    campaign_title: str
    last_day: dt.date
    questions: int
    taken: bool


@dataclass(frozen=True)
class StartResult:
    """``status``: question (a new or resumed attempt), done (already taken this period),
    empty (no question to ask), campaigns (choose a special quiz), no_campaign, unknown_bank,
    closed (campaign not running today), nothing_due (review), too_many (repeatable modes)."""

    status: str
    question: QuestionView | None = None
    resumed: bool = False
    summary: Summary | None = None
    campaigns: list[Campaign] = field(default_factory=list)
    bank_title: str | None = None
    next_due: dt.datetime | None = None
    notebook_size: int = 0


@dataclass(frozen=True)
class AnswerOutcome:
    """``status``: answered, toggled, empty_selection, duplicate (already answered),
    stale (not the current question of an active attempt), not_yours, invalid."""

    status: str
    question: QuestionView | None = None
    correct: bool = False
    late: bool = False
    given: list[str] = field(default_factory=list)
    answer: list[Any] = field(default_factory=list)
    correct_lines: list[str] = field(default_factory=list)
    explanation: str | None = None
    points: int = 0
    capped: bool = False
    streak: int = 0
    next_question: QuestionView | None = None
    summary: Summary | None = None


# --- reading --------------------------------------------------------------------------------


@dataclass
class _Asked:
    aq: AttemptQuestion
    attempt: QuizAttempt
    version: QuestionVersion


async def _load_asked(session: AsyncSession, aq_id: int) -> _Asked | None:
    row = (
        await session.execute(
            select(AttemptQuestion, QuizAttempt, QuestionVersion)
            .join(QuizAttempt, QuizAttempt.id == AttemptQuestion.attempt_id)
            .join(QuestionVersion, QuestionVersion.id == AttemptQuestion.question_version_id)
            .where(AttemptQuestion.id == aq_id)
        )
    ).first()
    if row is None:
        return None
    return _Asked(row[0], row[1], row[2])


async def _load_position(
    session: AsyncSession, attempt: QuizAttempt, position: int
) -> tuple[AttemptQuestion, QuestionVersion] | None:
    row = (
        await session.execute(
            select(AttemptQuestion, QuestionVersion)
            .join(QuestionVersion, QuestionVersion.id == AttemptQuestion.question_version_id)
            .where(AttemptQuestion.attempt_id == attempt.id, AttemptQuestion.position == position)
        )
    ).first()
    return (row[0], row[1]) if row else None


def _view(
    attempt: QuizAttempt, aq: AttemptQuestion, version: QuestionVersion, seconds: int | None
) -> QuestionView:
    options = list(version.options or [])
    order = list(aq.option_order or range(len(options)))
    return QuestionView(
        attempt_id=attempt.id,
        aq_id=aq.id,
        mode=attempt.mode,
        position=aq.position,
        total=attempt.total,
        type=version.type,
        text=version.text,
        options=[options[i] for i in order if i < len(options)],
        selection=list(aq.selection or []),
        seconds=seconds,
        deadline_at=aq.deadline_at,
    )


def _time_limit(config: Config, mode: str) -> int | None:
    seconds = config.points.daily_quiz.seconds
    return seconds if mode == "daily" and seconds > 0 else None


# --- starting -------------------------------------------------------------------------------


async def _find_attempt(
    session: AsyncSession, member_id: int, mode: str, period_key: str
) -> QuizAttempt | None:
    return await session.scalar(
        select(QuizAttempt).where(
            QuizAttempt.member_id == member_id,
            QuizAttempt.mode == mode,
            QuizAttempt.period_key == period_key,
        )
    )


async def _active_repeatable(
    session: AsyncSession, member_id: int, mode: str
) -> QuizAttempt | None:
    return await session.scalar(
        select(QuizAttempt)
        .where(
            QuizAttempt.member_id == member_id,
            QuizAttempt.mode == mode,
            QuizAttempt.status == "active",
        )
        .order_by(QuizAttempt.id.desc())
        .limit(1)
    )


async def _next_sequence(session: AsyncSession, member_id: int, mode: str, day: dt.date) -> int:
    keys = await session.scalars(
        select(QuizAttempt.period_key).where(
            QuizAttempt.member_id == member_id,
            QuizAttempt.mode == mode,
            QuizAttempt.period_key.like(f"{day.isoformat()}#%"),
        )
    )
    return max((scoring.sequence_of(k) for k in keys), default=0) + 1


async def _new_attempt(
    session: AsyncSession,
    *,
    member_id: int,
    mode: str,
    period_key: str,
    bank_id: int | None,
    chat_id: int | None,
    now: dt.datetime,
) -> QuizAttempt | None:
    """Insert the attempt unless (member, mode, period) exists; None when it does."""
    seed = draw.attempt_seed(member_id, mode, period_key)
    attempt_id = await insert_or_ignore(
        session,
        QuizAttempt,
        {
            "member_id": member_id,
            "mode": mode,
            "bank_id": bank_id,
            "period_key": period_key,
            "status": "active",
            "current_position": 1,
            "total": None,
            "correct_count": 0,
            "points": 0,
            "seed": seed,
            "chat_id": chat_id,
            "created_at": now,
        },
        returning=QuizAttempt.id,
    )
    if attempt_id is None:
        return None
    return await session.get(QuizAttempt, attempt_id)


def _asked_row(
    attempt: QuizAttempt, position: int, drawn: draw.Drawn, options: list[str]
) -> dict[str, Any]:
    order = check.option_order(draw.position_seed(attempt.seed, position), options)
    return {
        "attempt_id": attempt.id,
        "position": position,
        "question_version_id": drawn.version_id,
        "option_order": order,
        "selection": [],
    }


async def _options_of(session: AsyncSession, version_ids: list[int]) -> dict[int, list[str]]:
    rows = await session.execute(
        select(QuestionVersion.id, QuestionVersion.options).where(
            QuestionVersion.id.in_(version_ids)
        )
    )
    return {row[0]: list(row[1] or []) for row in rows}


async def _fill(session: AsyncSession, attempt: QuizAttempt, chosen: list[draw.Drawn]) -> None:
    options = await _options_of(session, [d.version_id for d in chosen])
    rows = [
        _asked_row(attempt, position, drawn, options.get(drawn.version_id, []))
        for position, drawn in enumerate(chosen, start=1)
    ]
    if rows:
        await session.execute(AttemptQuestion.__table__.insert(), rows)
    attempt.total = len(rows)


async def _present(
    session: AsyncSession,
    config: Config,
    attempt: QuizAttempt,
    *,
    telegram_id: int | None,
    now: dt.datetime,
) -> QuestionView | None:
    """The attempt's current question, ready to send: its deadline starts now if it has none
    yet, and a blank question makes the member's next free text its answer."""
    found = await _load_position(session, attempt, attempt.current_position)
    if found is None:
        return None
    aq, version = found
    seconds = _time_limit(config, attempt.mode)
    if aq.sent_at is None:
        aq.sent_at = now
        if seconds:
            aq.deadline_at = now + dt.timedelta(seconds=seconds)
    await _expect_blank(session, attempt.member_id, telegram_id, aq.id, version.type)
    return _view(attempt, aq, version, seconds)


async def _expect_blank(
    session: AsyncSession, member_id: int, telegram_id: int | None, aq_id: int, qtype: str
) -> None:
    if qtype != "blank":
        return
    if telegram_id is None:
        telegram_id = await session.scalar(select(Member.telegram_id).where(Member.id == member_id))
        if telegram_id is None:
            return
    await set_pending_input(session, telegram_id, BLANK_INPUT, {"aq": aq_id})


async def start_quiz(
    session: AsyncSession,
    config: Config,
    member_id: int,
    *,
    mode: str = "daily",
    bank_slug: str | None = None,
    questions: int | None = None,
    period_key: str | None = None,
    telegram_id: int | None = None,
    chat_id: int | None = None,
    now: dt.datetime | None = None,
) -> StartResult:
    """Start the member's quiz of ``mode`` for the current period, or resume it.

    - daily / weekly: once per local day / ISO week, from the active banks;
    - special: the campaign bank ``bank_slug`` while its campaign runs, once per campaign
      (without a bank: the list of running campaigns);
    - challenge: questions until the first wrong answer, several a day;
    - review: up to ``points.review.questions`` questions due in the notebook;
    - material: ``questions`` questions of ``bank_slug`` once per ``period_key`` (the study
      plan offers it after a reading), for practice: no points.

    The caller owns the transaction; the returned question is what to send now.
    """
    now = now or utcnow()
    today = now.astimezone(config.tz).date()
    if mode not in scoring.MODES:
        raise QuizError(f"unknown quiz mode {mode!r}")
    bank: Bank | None = None
    if mode in ("special", "material"):
        if not bank_slug:
            if mode == "material":
                raise QuizError("a material quiz needs its bank")
            return await _campaign_choice(session, member_id, today)
        bank = await session.scalar(
            select(Bank).where(func.lower(Bank.slug) == bank_slug.strip().lower())
        )
        if bank is None:
            return StartResult("unknown_bank")
        if mode == "special" and not scoring.campaign_open(
            bank.campaign_from, bank.campaign_to, today
        ):
            return StartResult("closed", bank_title=bank.campaign_title or bank.title)

    if mode in scoring.REPEATABLE_MODES:
        existing = await _active_repeatable(session, member_id, mode)
        if existing is not None:
            return await _resume(session, config, existing, telegram_id, now)
        key = scoring.period_key(
            mode, today, sequence=await _next_sequence(session, member_id, mode, today)
        )
    elif mode == "material":
        if not period_key:
            raise QuizError("a material quiz needs its period key")
        key = period_key
    else:
        key = scoring.period_key(mode, today, bank_slug=bank.slug if bank else None)
        existing = await _find_attempt(session, member_id, mode, key)
        if existing is not None:
            if existing.status == "active":
                return await _resume(session, config, existing, telegram_id, now)
            return StartResult("done", summary=await summarise(session, config, existing, now=now))

    if mode == "review":
        due = await review.due_question_ids(
            session, member_id, now, config.tz, config.points.review.questions
        )
        if not due:
            size, next_due = await review.notebook(session, member_id)
            return StartResult("nothing_due", next_due=next_due, notebook_size=size)

    if mode == "material":
        existing = await _find_attempt(session, member_id, mode, key)
        if existing is not None:
            if existing.status == "active":
                return await _resume(session, config, existing, telegram_id, now)
            return StartResult("done", summary=await summarise(session, config, existing, now=now))

    attempt = await _new_attempt(
        session,
        member_id=member_id,
        mode=mode,
        period_key=key,
        bank_id=bank.id if bank else None,
        chat_id=chat_id,
        now=now,
    )
    if attempt is None:  # created concurrently by a second command: resume that one
        found = await _find_attempt(session, member_id, mode, key)
        if found is None:
            raise QuizError("the attempt disappeared while starting")
        if found.status != "active":
            return StartResult("done", summary=await summarise(session, config, found, now=now))
        return await _resume(session, config, found, telegram_id, now)

    if mode == "review":
        chosen = await _review_draw(session, member_id, due)
    elif mode == "challenge":
        first = await draw.draw_next(session, attempt_id=attempt.id, seed=attempt.seed, position=1)
        chosen = [first] if first else []
    else:
        count = questions or scoring.question_count(
            mode, config.points, campaign_questions=bank.campaign_questions if bank else None
        )
        chosen = await draw.draw(
            session,
            member_id=member_id,
            count=count or 0,
            seed=attempt.seed,
            bank_id=bank.id if bank else None,
        )
    if not chosen:
        await session.delete(attempt)
        await session.flush()
        return StartResult("empty", bank_title=bank.title if bank else None)
    await _fill(session, attempt, chosen)
    if mode == "challenge":
        attempt.total = None
    await session.flush()
    view = await _present(session, config, attempt, telegram_id=telegram_id, now=now)
    return StartResult("question", question=view, bank_title=bank.title if bank else None)


async def _review_draw(
    session: AsyncSession, member_id: int, question_ids: list[int]
) -> list[draw.Drawn]:
    rows = await session.execute(
        select(Question.id, Question.current_version_id).where(Question.id.in_(question_ids))
    )
    versions = {row[0]: row[1] for row in rows if row[1] is not None}
    return [draw.Drawn(qid, versions[qid]) for qid in question_ids if qid in versions]


async def _resume(
    session: AsyncSession,
    config: Config,
    attempt: QuizAttempt,
    telegram_id: int | None,
    now: dt.datetime,
) -> StartResult:
    view = await _present(session, config, attempt, telegram_id=telegram_id, now=now)
    if view is None:
        # Nothing left to ask (e.g. the challenge ran out of questions): close it.
        attempt.status = "finished"
        attempt.finished_at = now
        await session.flush()
        return StartResult("done", summary=await summarise(session, config, attempt, now=now))
    return StartResult("question", question=view, resumed=True)


async def campaigns(session: AsyncSession, member_id: int, today: dt.date) -> list[Campaign]:
    """Campaign banks running today, and whether the member has taken each."""
    banks = list(
        await session.scalars(
            select(Bank)
            .where(
                Bank.campaign_from.is_not(None),
                Bank.campaign_from <= today,
                Bank.campaign_to >= today,
            )
            .order_by(Bank.campaign_to, Bank.slug)
        )
    )
    taken = set(
        await session.scalars(
            select(QuizAttempt.period_key).where(
                QuizAttempt.member_id == member_id,
                QuizAttempt.mode == "special",
                QuizAttempt.status == "finished",
            )
        )
    )
    return [
        Campaign(
            bank_id=b.id,
            slug=b.slug,
            title=b.title,
            campaign_title=b.campaign_title or b.title,
            last_day=b.campaign_to,  # type: ignore[arg-type]
            questions=b.campaign_questions or scoring.DEFAULT_CAMPAIGN_QUESTIONS,
            taken=b.slug in taken,
        )
        for b in banks
    ]


async def _campaign_choice(session: AsyncSession, member_id: int, today: dt.date) -> StartResult:
    found = await campaigns(session, member_id, today)
    if not found:
        return StartResult("no_campaign")
    return StartResult("campaigns", campaigns=found)


async def bank_slug_of(session: AsyncSession, bank_id: int) -> str | None:
    return await session.scalar(select(Bank.slug).where(Bank.id == bank_id))


# --- answering ------------------------------------------------------------------------------


def _usable(asked: _Asked | None, member_id: int) -> AnswerOutcome | None:
    """Why this press or reply cannot be an answer, or None when it can."""
    if asked is None:
        return AnswerOutcome("stale")
    if asked.attempt.member_id != member_id:
        return AnswerOutcome("not_yours")
    if asked.attempt.status != "active" or asked.aq.position < asked.attempt.current_position:
        return AnswerOutcome("duplicate")
    if asked.aq.position != asked.attempt.current_position:
        return AnswerOutcome("stale")
    return None


async def answer_choice(
    session: AsyncSession,
    config: Config,
    member_id: int,
    aq_id: int,
    shown_index: int,
    *,
    telegram_id: int | None = None,
    now: dt.datetime | None = None,
) -> AnswerOutcome:
    """A press on a letter of a single-choice question."""
    asked = await _load_asked(session, aq_id)
    refused = _usable(asked, member_id)
    if refused is not None:
        return refused
    assert asked is not None
    if asked.version.type != "single" or not 0 <= shown_index < len(asked.aq.option_order):
        return AnswerOutcome("invalid")
    order = asked.aq.option_order
    given = check.original_letters_of([shown_index], order)
    correct = check.check_choice([shown_index], order, asked.version.answer)
    return await _record(
        session, config, asked, given, [check.letter(shown_index)], correct, telegram_id, now
    )


async def answer_judge(
    session: AsyncSession,
    config: Config,
    member_id: int,
    aq_id: int,
    value: bool,
    *,
    telegram_id: int | None = None,
    now: dt.datetime | None = None,
) -> AnswerOutcome:
    """A press on ``✔`` / ``✘`` of a true/false question."""
    asked = await _load_asked(session, aq_id)
    refused = _usable(asked, member_id)
    if refused is not None:
        return refused
    assert asked is not None
    if asked.version.type != "judge":
        return AnswerOutcome("invalid")
    correct = check.check_judge(value, asked.version.answer)
    return await _record(
        session,
        config,
        asked,
        [value],
        ["true" if value else "false"],
        correct,
        telegram_id,
        now,
    )


async def toggle_option(
    session: AsyncSession, member_id: int, aq_id: int, shown_index: int
) -> AnswerOutcome:
    """A press on a letter of a multiple-choice question: mark or unmark it."""
    asked = await _load_asked(session, aq_id)
    refused = _usable(asked, member_id)
    if refused is not None:
        return refused
    assert asked is not None
    if asked.version.type != "multiple" or not 0 <= shown_index < len(asked.aq.option_order):
        return AnswerOutcome("invalid")
    selection = set(asked.aq.selection or [])
    selection ^= {shown_index}
    asked.aq.selection = sorted(selection)
    await session.flush()
    return AnswerOutcome("toggled", question=_view(asked.attempt, asked.aq, asked.version, None))


async def submit_multiple(
    session: AsyncSession,
    config: Config,
    member_id: int,
    aq_id: int,
    *,
    telegram_id: int | None = None,
    now: dt.datetime | None = None,
) -> AnswerOutcome:
    """The submit button of a multiple-choice question: the marked letters are the answer."""
    asked = await _load_asked(session, aq_id)
    refused = _usable(asked, member_id)
    if refused is not None:
        return refused
    assert asked is not None
    if asked.version.type != "multiple":
        return AnswerOutcome("invalid")
    shown = sorted(set(asked.aq.selection or []))
    if not shown:
        return AnswerOutcome("empty_selection")
    order = asked.aq.option_order
    given = check.original_letters_of(shown, order)
    correct = check.check_choice(shown, order, asked.version.answer)
    return await _record(
        session,
        config,
        asked,
        given,
        [check.letter(i) for i in shown],
        correct,
        telegram_id,
        now,
    )


async def answer_blank(
    session: AsyncSession,
    config: Config,
    member_id: int,
    aq_id: int,
    text: str,
    *,
    telegram_id: int | None = None,
    now: dt.datetime | None = None,
) -> AnswerOutcome:
    """A text reply to a fill-in-the-blank question."""
    asked = await _load_asked(session, aq_id)
    refused = _usable(asked, member_id)
    if refused is not None:
        if telegram_id is not None:
            await clear_pending_input(session, telegram_id, BLANK_INPUT)
        return refused
    assert asked is not None
    if asked.version.type != "blank":
        return AnswerOutcome("invalid")
    text = text.strip()[:500]
    if not text:
        return AnswerOutcome("invalid")
    correct = check.check_blank(text, asked.version.answer)
    if telegram_id is not None:
        await clear_pending_input(session, telegram_id, BLANK_INPUT)
    return await _record(session, config, asked, [text], [text], correct, telegram_id, now)


async def pending_blank(session: AsyncSession, telegram_id: int) -> int | None:
    """The asked question a member's next free text answers, if any."""
    pending = await session.get(PendingInput, telegram_id)
    if pending is None or pending.kind != BLANK_INPUT:
        return None
    value = (pending.payload or {}).get("aq")
    return int(value) if isinstance(value, int) else None


async def _record(
    session: AsyncSession,
    config: Config,
    asked: _Asked,
    given: list[Any],
    shown_given: list[str],
    correct: bool,
    telegram_id: int | None,
    now: dt.datetime | None,
) -> AnswerOutcome:
    """Store the answer (once: the unique key refuses a second), award, advance."""
    now = now or utcnow()
    aq, attempt, version = asked.aq, asked.attempt, asked.version
    late = aq.deadline_at is not None and now > aq.deadline_at
    if late:
        correct = False
    mode = attempt.mode
    streak = attempt.correct_count + 1 if correct else 0
    rules = config.points
    planned = scoring.answer_points(mode, correct, streak, rules)
    elapsed = int((now - aq.sent_at).total_seconds() * 1000) if aq.sent_at else None
    answer_id = await insert_or_ignore(
        session,
        Answer,
        {
            "member_id": attempt.member_id,
            "question_id": version.question_id,
            "question_version_id": version.id,
            "attempt_question_id": aq.id,
            "mode": mode,
            "given": given,
            "correct": correct,
            "late": late,
            "elapsed_ms": elapsed,
            "points": planned,
            "answered_at": now,
        },
        returning=Answer.id,
    )
    if answer_id is None:
        return AnswerOutcome("duplicate")

    granted = 0
    capped = False
    kind = scoring.ledger_kind(mode)
    if planned > 0 and kind is not None:
        day = now.astimezone(config.tz).date()
        window = scoring.cap_window(mode, rules, day)
        result = await award(
            session,
            member_id=attempt.member_id,
            kind=kind,
            reference=f"aq:{aq.id}",
            points=planned,
            tz=config.tz,
            cap=Cap(window.limit, window.first_day, window.last_day) if window else None,
            now=now,
        )
        granted, capped = result.points, result.capped
        if granted != planned:
            await session.execute(
                update(Answer).where(Answer.id == answer_id).values(points=granted)
            )

    await review.record_answer(
        session,
        member_id=attempt.member_id,
        question_id=version.question_id,
        correct=correct,
        now=now,
        graduate_days=rules.review.graduate_days,
    )

    position = aq.position
    finished = False
    next_view: QuestionView | None = None
    if mode == "challenge":
        if correct:
            nxt = await draw.draw_next(
                session, attempt_id=attempt.id, seed=attempt.seed, position=position + 1
            )
            if nxt is not None:
                options = (await _options_of(session, [nxt.version_id])).get(nxt.version_id, [])
                await session.execute(
                    AttemptQuestion.__table__.insert(),
                    [_asked_row(attempt, position + 1, nxt, options)],
                )
            else:
                finished = True
        else:
            finished = True
    else:
        finished = position >= (attempt.total or 0)

    values: dict[str, Any] = {
        "current_position": position + 1,
        "correct_count": attempt.correct_count + (1 if correct else 0),
        "points": attempt.points + granted,
    }
    if finished:
        values.update(status="finished", finished_at=now)
    moved = await session.execute(
        update(QuizAttempt)
        .where(QuizAttempt.id == attempt.id, QuizAttempt.current_position == position)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if (moved.rowcount or 0) != 1:  # type: ignore[attr-defined]
        # Another transaction moved the attempt first; its answer stands, this one is void.
        raise QuizConflict(f"attempt {attempt.id} moved past position {position}")
    for key, value in values.items():
        set_committed_value(attempt, key, value)

    summary = None
    if finished:
        summary = await summarise(session, config, attempt, now=now)
    else:
        next_view = await _present(session, config, attempt, telegram_id=telegram_id, now=now)

    order = list(aq.option_order or [])
    return AnswerOutcome(
        "answered",
        question=_view(attempt, aq, version, None),
        correct=correct,
        late=late,
        given=shown_given,
        answer=list(version.answer or []),
        correct_lines=check.correct_lines(
            version.type, version.answer or [], order, list(version.options or [])
        ),
        explanation=version.explanation,
        points=granted,
        capped=capped,
        streak=streak,
        next_question=next_view,
        summary=summary,
    )


# --- summaries ------------------------------------------------------------------------------


async def point_totals(
    session: AsyncSession, config: Config, member_id: int, today: dt.date
) -> tuple[int, int | None, int]:
    """(today, current season or None, all time) in one query."""
    season = config.season_for(today)
    delta = LedgerEntry.delta
    season_sum: Any
    if season is not None:
        season_sum = func.coalesce(
            func.sum(
                case(
                    (
                        (LedgerEntry.local_day >= season.from_)
                        & (LedgerEntry.local_day <= season.to),
                        delta,
                    ),
                    else_=0,
                )
            ),
            0,
        )
    else:
        season_sum = func.coalesce(func.sum(0), 0)
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(case((LedgerEntry.local_day == today, delta), else_=0)), 0),
                season_sum,
                func.coalesce(func.sum(delta), 0),
            ).where(LedgerEntry.member_id == member_id)
        )
    ).one()
    return int(row[0]), (int(row[1]) if season is not None else None), int(row[2])


async def summarise(
    session: AsyncSession, config: Config, attempt: QuizAttempt, *, now: dt.datetime | None = None
) -> Summary:
    now = now or utcnow()
    today = now.astimezone(config.tz).date()
    today_points, season_points, total = await point_totals(
        session, config, attempt.member_id, today
    )
    season = config.season_for(today)
    if attempt.mode == "challenge":
        questions = max(0, attempt.current_position - 1)
    else:
        questions = attempt.total or 0
    bank_title = None
    if attempt.bank_id is not None:
        bank = await session.get(Bank, attempt.bank_id)
        bank_title = (bank.campaign_title or bank.title) if bank else None
    return Summary(
        mode=attempt.mode,
        questions=questions,
        correct=attempt.correct_count,
        points=attempt.points,
        today_points=today_points,
        season_name=season.name if season else None,
        season_points=season_points,
        total_points=total,
        bank_title=bank_title,
    )
