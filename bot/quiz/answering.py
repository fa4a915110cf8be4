"""Answering a private-chat quiz question: the bot's hot path, so it is kept short.

One query reads everything an answer needs (the asked question, its attempt and version,
the next asked question, the member's review card, when the previous answer came); then the
answer row is inserted (the unique key on ``attempt_question_id`` refuses a second answer:
a double press, an old message, a redelivered update), points go through the ledger, the
review card is updated when there is one to update, and the attempt advances with a
compare-and-set on its position. The statements are built once and reused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.core import answers as check
from bot.core import scoring
from bot.db.models import (
    Answer,
    AttemptQuestion,
    Member,
    PendingInput,
    QuestionVersion,
    QuizAttempt,
    ReviewCard,
)
from bot.db.types import utcnow
from bot.db.upsert import insert_ignoring
from bot.members.service import clear_pending_input, set_pending_input
from bot.points.ledger import Cap, award
from bot.quiz import draw, review
from bot.quiz.summary import questions_asked, summary_of
from bot.quiz.views import AnswerOutcome, QuestionView, QuizConflict

BLANK_INPUT = "blank"

_aq = cast(Table, AttemptQuestion.__table__)
_at = cast(Table, QuizAttempt.__table__)
_qv = cast(Table, QuestionVersion.__table__)
_nx = _aq.alias("next_aq")
_nv = _qv.alias("next_qv")
_pv = _aq.alias("previous_aq")
_rc = cast(Table, ReviewCard.__table__)
_ans = cast(Table, Answer.__table__)

_previous_answer_at = (
    select(_ans.c.answered_at)
    .join(_pv, _pv.c.id == _ans.c.attempt_question_id)
    .where(_pv.c.attempt_id == _aq.c.attempt_id, _pv.c.position == _aq.c.position - 1)
    .scalar_subquery()
)

_CONTEXT = (
    select(
        _aq.c.id.label("aq_id"),
        _aq.c.position,
        _aq.c.option_order,
        _aq.c.selection,
        _aq.c.sent_at,
        _aq.c.deadline_at,
        _at.c.id.label("attempt_id"),
        _at.c.member_id,
        _at.c.mode,
        _at.c.status,
        _at.c.current_position,
        _at.c.total,
        _at.c.correct_count,
        _at.c.points,
        _at.c.seed,
        _at.c.bank_id,
        _at.c.created_at.label("attempt_created_at"),
        _qv.c.id.label("version_id"),
        _qv.c.question_id,
        _qv.c.type,
        _qv.c.text,
        _qv.c.options,
        _qv.c.answer,
        _qv.c.explanation,
        _nx.c.id.label("next_id"),
        _nx.c.option_order.label("next_order"),
        _nx.c.selection.label("next_selection"),
        _nx.c.deadline_at.label("next_deadline_at"),
        _nv.c.type.label("next_type"),
        _nv.c.text.label("next_text"),
        _nv.c.options.label("next_options"),
        _rc.c.id.label("card_id"),
        _rc.c.card,
        _rc.c.active.label("card_active"),
        _rc.c.lapses.label("card_lapses"),
        _previous_answer_at.label("previous_answer_at"),
    )
    .select_from(
        _aq.join(_at, _at.c.id == _aq.c.attempt_id)
        .join(_qv, _qv.c.id == _aq.c.question_version_id)
        .outerjoin(
            _nx, and_(_nx.c.attempt_id == _aq.c.attempt_id, _nx.c.position == _aq.c.position + 1)
        )
        .outerjoin(_nv, _nv.c.id == _nx.c.question_version_id)
        .outerjoin(
            _rc, and_(_rc.c.member_id == _at.c.member_id, _rc.c.question_id == _qv.c.question_id)
        )
    )
    .where(_aq.c.id == bindparam("aq_id"))
)

_ADVANCE = (
    update(_at)
    .where(_at.c.id == bindparam("p_id"), _at.c.current_position == bindparam("p_position"))
    .values(
        current_position=bindparam("p_next"),
        correct_count=bindparam("p_correct"),
        points=bindparam("p_points"),
    )
)
_FINISH = _ADVANCE.values(status="finished", finished_at=bindparam("p_finished_at"))

_START_CLOCK = (
    update(_aq)
    .where(_aq.c.id == bindparam("p_id"), _aq.c.sent_at.is_(None))
    .values(sent_at=bindparam("p_sent_at"), deadline_at=bindparam("p_deadline_at"))
)

_SET_SELECTION = (
    update(_aq).where(_aq.c.id == bindparam("p_id")).values(selection=bindparam("p_selection"))
)

_SET_POINTS = (
    update(_ans).where(_ans.c.id == bindparam("p_id")).values(points=bindparam("p_points"))
)

_NEW_ASKED = _aq.insert().returning(_aq.c.id)


# One row of ``_CONTEXT``: the asked question and everything around it.
_Context = Any


async def _context(session: AsyncSession, aq_id: int) -> _Context | None:
    return (await session.execute(_CONTEXT, {"aq_id": aq_id})).first()


def time_limit(config: Config, mode: str) -> int | None:
    """Seconds allowed per question: ``points.daily_quiz.seconds`` applies to the daily quiz."""
    seconds = config.points.daily_quiz.seconds
    return seconds if mode == "daily" and seconds > 0 else None


def shown_options(options: list[Any] | None, order: list[int] | None) -> list[str]:
    """The options in the order the member sees them (shown letter i -> ``order[i]``)."""
    opts = list(options or [])
    return [opts[i] for i in (order or range(len(opts))) if i < len(opts)]


def _answered_view(ctx: _Context) -> QuestionView:
    return QuestionView(
        attempt_id=ctx.attempt_id,
        aq_id=ctx.aq_id,
        mode=ctx.mode,
        position=ctx.position,
        total=ctx.total,
        type=ctx.type,
        text=ctx.text,
        options=shown_options(ctx.options, ctx.option_order),
        selection=list(ctx.selection or []),
    )


async def _answerable(
    session: AsyncSession, aq_id: int, member_id: int, kind: str
) -> tuple[_Context | None, AnswerOutcome | None]:
    """The asked question if this member may answer it now as a ``kind`` question, else the
    outcome that explains why not."""
    ctx = await _context(session, aq_id)
    refused = _refusal(ctx, member_id)
    if refused is not None:
        return None, refused
    assert ctx is not None
    if ctx.type != kind:
        return None, AnswerOutcome("invalid")
    return ctx, None


def _refusal(ctx: _Context | None, member_id: int) -> AnswerOutcome | None:
    """Why this press or reply cannot be an answer, or None when it can."""
    if ctx is None:
        return AnswerOutcome("stale")
    if ctx.member_id != member_id:
        return AnswerOutcome("not_yours")
    if ctx.status != "active" or ctx.position < ctx.current_position:
        return AnswerOutcome("duplicate")
    if ctx.position != ctx.current_position:
        return AnswerOutcome("stale")
    return None


async def expect_blank(
    session: AsyncSession, member_id: int, telegram_id: int | None, aq_id: int, qtype: str
) -> None:
    """A blank question waits for text: the member's next free text answers it."""
    if qtype != "blank":
        return
    if telegram_id is None:
        telegram_id = await session.scalar(select(Member.telegram_id).where(Member.id == member_id))
        if telegram_id is None:
            return
    await set_pending_input(session, telegram_id, BLANK_INPUT, {"aq": aq_id})


# --- the answer kinds ----------------------------------------------------------------------


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
    ctx, refused = await _answerable(session, aq_id, member_id, "single")
    if ctx is None:
        return refused or AnswerOutcome("invalid")
    order = list(ctx.option_order or [])
    if not 0 <= shown_index < len(order):
        return AnswerOutcome("invalid")
    given = check.original_letters_of([shown_index], order)
    correct = check.check_choice([shown_index], order, ctx.answer or [])
    return await _record(
        session, config, ctx, given, [check.letter(shown_index)], correct, telegram_id, now
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
    ctx, refused = await _answerable(session, aq_id, member_id, "judge")
    if ctx is None:
        return refused or AnswerOutcome("invalid")
    correct = check.check_judge(value, ctx.answer or [])
    shown = ["true" if value else "false"]
    return await _record(session, config, ctx, [value], shown, correct, telegram_id, now)


async def toggle_option(
    session: AsyncSession, member_id: int, aq_id: int, shown_index: int
) -> AnswerOutcome:
    """A press on a letter of a multiple-choice question: mark or unmark it."""
    ctx, refused = await _answerable(session, aq_id, member_id, "multiple")
    if ctx is None:
        return refused or AnswerOutcome("invalid")
    if not 0 <= shown_index < len(ctx.option_order or []):
        return AnswerOutcome("invalid")
    selection = sorted(set(ctx.selection or []) ^ {shown_index})
    await session.execute(_SET_SELECTION, {"p_id": aq_id, "p_selection": selection})
    view = _answered_view(ctx)
    return AnswerOutcome(
        "toggled",
        question=QuestionView(**{**view.__dict__, "selection": selection}),
    )


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
    ctx, refused = await _answerable(session, aq_id, member_id, "multiple")
    if ctx is None:
        return refused or AnswerOutcome("invalid")
    shown = sorted(set(ctx.selection or []))
    if not shown:
        return AnswerOutcome("empty_selection")
    order = list(ctx.option_order or [])
    given = check.original_letters_of(shown, order)
    correct = check.check_choice(shown, order, ctx.answer or [])
    letters = [check.letter(i) for i in shown]
    return await _record(session, config, ctx, given, letters, correct, telegram_id, now)


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
    ctx = await _context(session, aq_id)
    refused = _refusal(ctx, member_id)
    if refused is not None:
        if telegram_id is not None:
            await clear_pending_input(session, telegram_id, BLANK_INPUT)
        return refused
    assert ctx is not None
    if ctx.type != "blank":
        return AnswerOutcome("invalid")
    text = text.strip()[:500]
    if not text:
        return AnswerOutcome("invalid")
    correct = check.check_blank(text, ctx.answer or [])
    if telegram_id is not None:
        await clear_pending_input(session, telegram_id, BLANK_INPUT)
    return await _record(session, config, ctx, [text], [text], correct, telegram_id, now)


async def pending_blank(session: AsyncSession, telegram_id: int) -> int | None:
    """The asked question a member's next free text answers, if any."""
    pending = await session.get(PendingInput, telegram_id)
    if pending is None or pending.kind != BLANK_INPUT:
        return None
    value = (pending.payload or {}).get("aq")
    return int(value) if isinstance(value, int) else None


# --- recording ------------------------------------------------------------------------------


def _elapsed_ms(ctx: _Context, now: dt.datetime) -> int | None:
    """Time to answer: from sending the question, which (without a time limit, when no send
    time is stored) is when the previous answer came, or the start of the attempt."""
    since = ctx.sent_at or ctx.previous_answer_at
    if since is None and ctx.position == 1:
        since = ctx.attempt_created_at
    if since is None:
        return None
    return max(0, int((now - since).total_seconds() * 1000))


async def _record(
    session: AsyncSession,
    config: Config,
    ctx: _Context,
    given: list[Any],
    shown_given: list[str],
    correct: bool,
    telegram_id: int | None,
    now: dt.datetime | None,
) -> AnswerOutcome:
    """Store the answer (once: the unique key refuses a second), award, advance."""
    now = now or utcnow()
    late = ctx.deadline_at is not None and now > ctx.deadline_at
    if late:
        correct = False
    mode = ctx.mode
    rules = config.points
    streak = ctx.correct_count + 1 if correct else 0
    planned = scoring.answer_points(mode, correct, streak, rules)
    answer_id = (
        await session.execute(
            insert_ignoring(session, _ans, _ans.c.id),
            {
                "member_id": ctx.member_id,
                "question_id": ctx.question_id,
                "question_version_id": ctx.version_id,
                "attempt_question_id": ctx.aq_id,
                "live_question_id": None,
                "mode": mode,
                "given": given,
                "correct": correct,
                "late": late,
                "elapsed_ms": _elapsed_ms(ctx, now),
                "points": planned,
                "answered_at": now,
            },
        )
    ).scalar()
    if answer_id is None:
        return AnswerOutcome("duplicate")

    granted = 0
    capped = False
    kind = scoring.ledger_kind(mode)
    if planned > 0 and kind is not None:
        window = scoring.cap_window(mode, rules, now.astimezone(config.tz).date())
        result = await award(
            session,
            member_id=ctx.member_id,
            kind=kind,
            reference=f"aq:{ctx.aq_id}",
            points=planned,
            tz=config.tz,
            cap=Cap(window.limit, window.first_day, window.last_day) if window else None,
            now=now,
        )
        granted, capped = result.points, result.capped
        if granted != planned:
            await session.execute(_SET_POINTS, {"p_id": answer_id, "p_points": granted})

    if not correct or (ctx.card_id is not None and ctx.card_active):
        await review.apply_answer(
            session,
            member_id=ctx.member_id,
            question_id=ctx.question_id,
            card_id=ctx.card_id,
            card=ctx.card,
            active=bool(ctx.card_active),
            lapses=ctx.card_lapses or 0,
            correct=correct,
            now=now,
            graduate_days=rules.review.graduate_days,
        )

    position = ctx.position
    next_view: QuestionView | None = None
    seconds = time_limit(config, mode)
    if mode == "challenge":
        next_view = await _challenge_next(session, ctx, seconds) if correct else None
        finished = next_view is None
    else:
        finished = position >= (ctx.total or 0)
        if not finished and ctx.next_id is not None:
            next_view = QuestionView(
                attempt_id=ctx.attempt_id,
                aq_id=ctx.next_id,
                mode=mode,
                position=position + 1,
                total=ctx.total,
                type=ctx.next_type,
                text=ctx.next_text,
                options=shown_options(ctx.next_options, ctx.next_order),
                selection=list(ctx.next_selection or []),
                seconds=seconds,
                deadline_at=ctx.next_deadline_at,
            )

    correct_count = ctx.correct_count + (1 if correct else 0)
    points = ctx.points + granted
    params: dict[str, Any] = {
        "p_id": ctx.attempt_id,
        "p_position": position,
        "p_next": position + 1,
        "p_correct": correct_count,
        "p_points": points,
    }
    if finished:
        params["p_finished_at"] = now
    moved = await session.execute(_FINISH if finished else _ADVANCE, params)
    if (moved.rowcount or 0) != 1:  # type: ignore[attr-defined]
        # Another transaction moved the attempt first; its answer stands, this one is void.
        raise QuizConflict(f"attempt {ctx.attempt_id} moved past position {position}")

    summary = None
    if finished:
        summary = await summary_of(
            session,
            config,
            member_id=ctx.member_id,
            mode=mode,
            questions=questions_asked(mode, ctx.total, position + 1),
            correct=correct_count,
            points=points,
            bank_id=ctx.bank_id,
            now=now,
        )
    elif next_view is not None:
        if seconds and next_view.deadline_at is None:
            deadline = now + dt.timedelta(seconds=seconds)
            await session.execute(
                _START_CLOCK,
                {"p_id": next_view.aq_id, "p_sent_at": now, "p_deadline_at": deadline},
            )
            next_view = QuestionView(**{**next_view.__dict__, "deadline_at": deadline})
        await expect_blank(session, ctx.member_id, telegram_id, next_view.aq_id, next_view.type)

    order = list(ctx.option_order or [])
    return AnswerOutcome(
        "answered",
        question=_answered_view(ctx),
        correct=correct,
        late=late,
        given=shown_given,
        answer=list(ctx.answer or []),
        correct_lines=check.correct_lines(
            ctx.type, ctx.answer or [], order, list(ctx.options or [])
        ),
        explanation=ctx.explanation,
        points=granted,
        capped=capped,
        streak=streak,
        next_question=next_view,
        summary=summary,
    )


async def _challenge_next(
    session: AsyncSession, ctx: _Context, seconds: int | None
) -> QuestionView | None:
    """Draw and store the challenge's next question; None when every question was asked."""
    position = ctx.position + 1
    drawn = await draw.draw_next(
        session, attempt_id=ctx.attempt_id, seed=ctx.seed, position=position
    )
    if drawn is None:
        return None
    row = (
        await session.execute(
            select(_qv.c.type, _qv.c.text, _qv.c.options).where(_qv.c.id == drawn.version_id)
        )
    ).one()
    options = list(row.options or [])
    order = check.option_order(draw.position_seed(ctx.seed, position), options)
    aq_id = (
        await session.execute(
            _NEW_ASKED,
            {
                "attempt_id": ctx.attempt_id,
                "position": position,
                "question_version_id": drawn.version_id,
                "option_order": order,
                "selection": [],
            },
        )
    ).scalar_one()
    return QuestionView(
        attempt_id=ctx.attempt_id,
        aq_id=aq_id,
        mode=ctx.mode,
        position=position,
        total=None,
        type=row.type,
        text=row.text,
        options=shown_options(options, order),
        seconds=seconds,
    )
