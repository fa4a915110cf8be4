"""Group live quiz: ``/livequiz``, ``/stopquiz``, poll answers, and the one-second tick.

Handlers only translate between Telegram and ``bot.quiz.live``; the round itself is driven
by ``LiveQuizRunner`` from a repeating job (PTB's JobQueue) that every replica runs: the
database claims decide who sends what, so extra ticks are harmless.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from telegram import Update
from telegram.constants import PollLimit
from telegram.ext import Application, CommandHandler, PollAnswerHandler, PollHandler

from bot.members.service import prompt_start_once
from bot.quiz import live
from bot.quiz.live_polls import PollLimits
from bot.sending import SendError
from bot.telegram.common import STARTUP_HOOKS, command_args, is_group, reply
from bot.telegram.context import StudyContext

log = logging.getLogger("studybot.live")

TICK_SECONDS = 1.0
# A vote may arrive while the poll it belongs to is still being recorded.
UNKNOWN_POLL_RETRIES = 20
UNKNOWN_POLL_WAIT = 0.25


def poll_limits() -> PollLimits:
    """Telegram's poll limits as python-telegram-bot knows them (they follow the Bot API)."""
    return PollLimits(
        question_length=int(PollLimit.MAX_QUESTION_LENGTH),
        option_length=int(PollLimit.MAX_OPTION_LENGTH),
        option_count=int(PollLimit.MAX_OPTION_NUMBER),
        explanation_length=int(PollLimit.MAX_EXPLANATION_LENGTH),
        explanation_line_feeds=int(PollLimit.MAX_EXPLANATION_LINE_FEEDS),
        min_open_period=int(PollLimit.MIN_OPEN_PERIOD),
    )


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def runner(context: StudyContext) -> live.LiveQuizRunner:
    return live.LiveQuizRunner(
        context.db,
        context.bot_data["sender"],
        context.config,
        poll_limits(),
        owner=_owner(),
    )


async def _may_run_rounds(update: Update, context: StudyContext) -> bool:
    """Admins and leaders, in a group (the middleware has left groups not configured)."""
    _ = context.tr
    if not is_group(update):
        await reply(update, context, _("This command works in a group chat."))
        return False
    actor = context.actor
    if actor is None or not actor.is_leader:
        log.warning(
            "refused live quiz command: user=%s chat=%s",
            update.effective_user.id if update.effective_user else "-",
            update.effective_chat.id if update.effective_chat else "-",
        )
        await reply(update, context, _("Sorry, only admins and leaders can run live quizzes."))
        return False
    return True


async def livequiz_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    if not await _may_run_rounds(update, context):
        return
    chat = update.effective_chat
    assert chat is not None
    limits = poll_limits()
    low, high = live.seconds_range(limits)
    try:
        args = live.parse_args(command_args(context), limits)
    except live.LiveArgsError as exc:
        usage = _(
            "Usage: /livequiz BANK [N] [SECONDS] — N questions (default {n}, at most {max_n}), "
            "SECONDS per question (default {s}, {low}–{high}). Send /banks to see the banks.",
            n=live.DEFAULT_QUESTIONS,
            max_n=live.MAX_QUESTIONS,
            s=live.DEFAULT_SECONDS,
            low=low,
            high=high,
        )
        if exc.code == "count":
            usage = _("N must be a whole number from 1 to {max_n}.", max_n=live.MAX_QUESTIONS)
        elif exc.code == "seconds":
            usage = _("SECONDS must be a whole number from {low} to {high}.", low=low, high=high)
        await reply(update, context, usage)
        return
    actor = context.actor
    rule = context.config.points.live_quiz
    async with context.db.begin() as session:
        result = await live.start_round(
            session,
            chat_id=chat.id,
            args=args,
            started_by=actor.telegram_id if actor else None,
            limits=limits,
            locale=context.config.locale,
        )
    if result.status == "running":
        await reply(
            update,
            context,
            _("A live quiz is already running in this group. An admin can end it with /stopquiz."),
        )
        return
    if result.status == "no_bank":
        await reply(
            update,
            context,
            _("There is no bank named {bank}. Send /banks to see them.", bank=args.bank),
        )
        return
    if result.status == "no_questions":
        await reply(
            update,
            context,
            _(
                "The bank {bank} has no questions that can be asked as polls "
                "(fill-in-the-blank questions are skipped).",
                bank=args.bank,
            ),
        )
        return
    assert result.round_id is not None
    text = live.announcement_text(
        context.config.locale,
        title=result.title or args.bank,
        count=result.count,
        seconds=result.seconds,
        per_correct=rule.per_correct,
        bonus=rule.speed_bonus,
    )
    try:
        await context.bot_data["sender"].send_text(chat.id, text)
    except SendError as exc:
        log.warning("live round %s: announcement not sent: %s", result.round_id, exc)
    await runner(context).advance(result.round_id)


async def stopquiz_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    if not await _may_run_rounds(update, context):
        return
    chat = update.effective_chat
    assert chat is not None
    result = await runner(context).stop(chat.id)
    if result.status == "none":
        await reply(update, context, _("No live quiz is running in this group."))


async def poll_answer(update: Update, context: StudyContext) -> None:
    answer = update.poll_answer
    if answer is None or answer.user is None:
        return  # an anonymous admin voting as the chat: no person to score
    actor = context.actor
    member_id = actor.member_id if actor else None
    option_ids = list(answer.option_ids)
    for _attempt in range(UNKNOWN_POLL_RETRIES):
        async with context.db.begin() as session:
            result = await live.record_answer(
                session, poll_id=answer.poll_id, member_id=member_id, option_ids=option_ids
            )
            if result.status != "unknown_poll":
                break
            pending = await live.sending_in_progress(session)
        if not pending:
            return
        await asyncio.sleep(UNKNOWN_POLL_WAIT)
    if result.status == "unregistered":
        await _prompt_to_register(context, answer.user.id)
    log.debug("live answer poll=%s user=%s %s", answer.poll_id, answer.user.id, result.status)


async def _prompt_to_register(context: StudyContext, telegram_id: int) -> None:
    async with context.db.begin() as session:
        first = await prompt_start_once(session, telegram_id)
    if not first:
        return
    _ = context.tr
    try:
        await context.bot_data["sender"].send_text(
            telegram_id,
            _(
                "Thanks for taking part in the live quiz! To have your answers and points "
                "counted, please register first: send /start."
            ),
        )
    except SendError as exc:  # never talked to the bot: Telegram does not let us start
        log.info("cannot prompt %s to register: %s", telegram_id, exc)


async def poll_state(update: Update, context: StudyContext) -> None:
    """Telegram closed one of our polls (its period ended): score it without waiting."""
    poll = update.poll
    if poll is None or not poll.is_closed:
        return
    async with context.db.begin() as session:
        await live.poll_closed(session, poll_id=poll.id)


_tick_lock = asyncio.Lock()


async def tick(context: StudyContext) -> None:
    """The scheduler's heartbeat; an overrunning tick makes the next ones return at once."""
    if _tick_lock.locked():
        return
    async with _tick_lock:
        try:
            await runner(context).tick()
        except Exception:
            log.exception("live quiz tick failed")


async def start_ticking(app: Application) -> None:  # type: ignore[type-arg]
    """Arm the tick; rounds running before a restart continue from the database."""
    if app.job_queue is None:
        log.error("no job queue (install python-telegram-bot[job-queue]): live quizzes cannot run")
        return
    app.job_queue.run_repeating(
        tick,  # type: ignore[arg-type]
        interval=TICK_SECONDS,
        first=0.2,
        name="live-quiz-tick",
        job_kwargs={"max_instances": 2, "coalesce": True, "misfire_grace_time": None},
    )


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("livequiz", livequiz_command))
    app.add_handler(CommandHandler("stopquiz", stopquiz_command))
    app.add_handler(PollAnswerHandler(poll_answer))
    app.add_handler(PollHandler(poll_state))
    if start_ticking not in STARTUP_HOOKS:
        STARTUP_HOOKS.append(start_ticking)
