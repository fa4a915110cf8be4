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
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.core import answers as check
from bot.core import scoring
from bot.db.models import (
    AttemptQuestion,
    Bank,
    Question,
    QuestionVersion,
    QuizAttempt,
)
from bot.db.types import utcnow
from bot.db.upsert import insert_ignoring, insert_or_ignore
from bot.quiz import draw, review
from bot.quiz.answering import (
    BLANK_INPUT,
    answer_blank,
    answer_choice,
    answer_judge,
    expect_blank,
    pending_blank,
    shown_options,
    submit_multiple,
    time_limit,
    toggle_option,
)
from bot.quiz.summary import point_totals, summarise
from bot.quiz.views import (
    AnswerOutcome,
    Campaign,
    QuestionView,
    QuizConflict,
    QuizError,
    StartResult,
    Summary,
)

__all__ = [
    "BLANK_INPUT",
    "AnswerOutcome",
    "Campaign",
    "QuestionView",
    "QuizConflict",
    "QuizError",
    "StartResult",
    "Summary",
    "answer_blank",
    "answer_choice",
    "answer_judge",
    "bank_slug_of",
    "campaigns",
    "pending_blank",
    "point_totals",
    "start_quiz",
    "submit_multiple",
    "summarise",
    "toggle_option",
]


# --- reading --------------------------------------------------------------------------------


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
    return QuestionView(
        attempt_id=attempt.id,
        aq_id=aq.id,
        mode=attempt.mode,
        position=aq.position,
        total=attempt.total,
        type=version.type,
        text=version.text,
        options=shown_options(version.options, aq.option_order),
        selection=list(aq.selection or []),
        seconds=seconds,
        deadline_at=aq.deadline_at,
    )


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


_attempts = cast(Table, QuizAttempt.__table__)
_asked = cast(Table, AttemptQuestion.__table__)
_versions = cast(Table, QuestionVersion.__table__)

_CHOSEN_VERSIONS = select(
    _versions.c.id, _versions.c.type, _versions.c.text, _versions.c.options
).where(_versions.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_ASKED = _asked.insert().returning(_asked.c.id, sort_by_parameter_order=True)

# A question version as read by ``_CHOSEN_VERSIONS``.
_Version = Any


async def _versions_of(session: AsyncSession, chosen: list[draw.Drawn]) -> dict[int, _Version]:
    rows = await session.execute(_CHOSEN_VERSIONS, {"ids": sorted({d.version_id for d in chosen})})
    return {row.id: row for row in rows}


def _asked_row(
    attempt_id: int,
    seed: int,
    position: int,
    drawn: draw.Drawn,
    version: _Version,
) -> dict[str, Any]:
    options = list(version.options or [])
    return {
        "attempt_id": attempt_id,
        "position": position,
        "question_version_id": drawn.version_id,
        "option_order": check.option_order(draw.position_seed(seed, position), options),
        "selection": [],
        "message_id": None,
        "sent_at": None,
        "deadline_at": None,
    }


async def _fill(session: AsyncSession, attempt: QuizAttempt, chosen: list[draw.Drawn]) -> None:
    versions = await _versions_of(session, chosen)
    rows = [
        _asked_row(attempt.id, attempt.seed, position, drawn, versions[drawn.version_id])
        for position, drawn in enumerate(chosen, start=1)
    ]
    if rows:
        await session.execute(insert(AttemptQuestion), rows)
    attempt.total = len(rows)


async def _present(
    session: AsyncSession,
    config: Config,
    attempt: QuizAttempt,
    *,
    telegram_id: int | None,
    now: dt.datetime,
) -> QuestionView | None:
    """The attempt's current question, ready to send: a timed question's clock starts now if
    it has not started (resending it does not restart it), and a blank question makes the
    member's next free text its answer. Untimed questions need no send time: the time to
    answer is counted from the previous answer."""
    found = await _load_position(session, attempt, attempt.current_position)
    if found is None:
        return None
    aq, version = found
    seconds = time_limit(config, attempt.mode)
    if seconds and aq.sent_at is None:
        aq.sent_at = now
        aq.deadline_at = now + dt.timedelta(seconds=seconds)
    await expect_blank(session, attempt.member_id, telegram_id, aq.id, version.type)
    return _view(attempt, aq, version, seconds)


async def _start_fresh(
    session: AsyncSession,
    config: Config,
    *,
    member_id: int,
    mode: str,
    key: str,
    bank: Bank | None,
    count: int,
    telegram_id: int | None,
    chat_id: int | None,
    now: dt.datetime,
) -> StartResult | None:
    """A fixed-size attempt that does not exist yet, started in a few statements: the draw,
    the attempt (the unique key refuses it when it exists), its questions and the first one
    to send. None when there is nothing to start here (an attempt of this period exists, or
    no question can be drawn): the general path then resumes, summarises or explains."""
    seed = draw.attempt_seed(member_id, mode, key)
    chosen = await draw.draw(
        session, member_id=member_id, count=count, seed=seed, bank_id=bank.id if bank else None
    )
    if not chosen:
        return None
    attempt_id = await session.scalar(
        insert_ignoring(session, _attempts, _attempts.c.id),
        {
            "member_id": member_id,
            "mode": mode,
            "bank_id": bank.id if bank else None,
            "period_key": key,
            "status": "active",
            "current_position": 1,
            "total": len(chosen),
            "correct_count": 0,
            "points": 0,
            "seed": seed,
            "chat_id": chat_id,
            "created_at": now,
            "finished_at": None,
        },
    )
    if attempt_id is None:
        return None
    versions = await _versions_of(session, chosen)
    seconds = time_limit(config, mode)
    deadline = now + dt.timedelta(seconds=seconds) if seconds else None
    rows = [
        _asked_row(attempt_id, seed, position, drawn, versions[drawn.version_id])
        for position, drawn in enumerate(chosen, start=1)
    ]
    if deadline is not None:  # the first question is sent now: its time limit starts
        rows[0].update(sent_at=now, deadline_at=deadline)
    ids = (await session.scalars(_INSERT_ASKED, rows)).all()
    first = versions[chosen[0].version_id]
    await expect_blank(session, member_id, telegram_id, ids[0], first.type)
    view = QuestionView(
        attempt_id=attempt_id,
        aq_id=ids[0],
        mode=mode,
        position=1,
        total=len(chosen),
        type=first.type,
        text=first.text,
        options=shown_options(first.options, rows[0]["option_order"]),
        seconds=seconds,
        deadline_at=deadline,
    )
    return StartResult("question", question=view, bank_title=bank.title if bank else None)


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
        count = questions or scoring.question_count(
            mode, config.points, campaign_questions=bank.campaign_questions if bank else None
        )
        if count:
            started = await _start_fresh(
                session,
                config,
                member_id=member_id,
                mode=mode,
                key=key,
                bank=bank,
                count=count,
                telegram_id=telegram_id,
                chat_id=chat_id,
                now=now,
            )
            if started is not None:
                return started
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
