"""Private-chat quizzes in Telegram: /quiz, /weekly, /special, /challenge, /review.

Rendering follows SPEC §5 so that clients and tests can rely on it: one message per question
(header ``第 2/5 题 · 单选``, the stem, ``A. …`` option lines), letter buttons, multiple-choice
toggles with ``✅`` and a submit button, ``✔ 对`` / ``✘ 错`` for true/false, text replies for
blanks. After a pressed answer the question message is edited into its verdict (buttons
removed, the choice shown, right or wrong, the correct answer, the explanation, the points);
a typed answer gets the verdict as a reply. Then the next question or the summary follows.

Callback data: ``q:<asked question id>:<action>`` with action ``a<i>`` (single choice,
shown option i), ``t<i>`` (toggle), ``s`` (submit), ``y`` / ``n`` (true / false); and
``q:sp:<bank id>`` to start a special quiz from the campaign list.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.constants import MessageLimit
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.core.answers import letter
from bot.db.inline import run_inline
from bot.i18n import N_, Translator
from bot.quiz import service
from bot.quiz.service import AnswerOutcome, QuestionView, StartResult, Summary
from bot.sending import Button, Keyboard
from bot.telegram.common import TEXT_ROUTES, call, command_args, reply, requires, say_quickly
from bot.telegram.context import StudyContext
from bot.telegram.keyboards import markup

log = logging.getLogger("studybot.quiz")

PREFIX = "q:"

TYPE_NAMES = {
    "single": N_("single choice"),
    "multiple": N_("multiple choice"),
    "judge": N_("true or false"),
    "blank": N_("fill in the blank"),
}

MODE_NAMES = {
    "daily": N_("daily quiz"),
    "weekly": N_("weekly quiz"),
    "special": N_("special quiz"),
    "challenge": N_("challenge quiz"),
    "review": N_("wrong-answer review"),
    "material": N_("reading quiz"),
}

JUDGE_TRUE = N_("✔ True")
JUDGE_FALSE = N_("✘ False")


# --- rendering ------------------------------------------------------------------------------


def header(_: Translator, view: QuestionView) -> str:
    kind = _(TYPE_NAMES.get(view.type, view.type))
    if view.total is None:
        return _("Question {n} · {kind}", n=view.position, kind=kind)
    return _("Question {n}/{total} · {kind}", n=view.position, total=view.total, kind=kind)


def question_text(_: Translator, view: QuestionView) -> str:
    lines = [header(_, view), view.text]
    if view.options and view.type in ("single", "multiple"):
        lines.append("")
        lines += [f"{letter(i)}. {option}" for i, option in enumerate(view.options)]
    if view.type == "multiple":
        lines.append("")
        lines.append(_("Select every right option, then press Submit."))
    elif view.type == "blank":
        lines.append("")
        lines.append(_("✍️ Reply with your answer."))
    if view.seconds:
        lines.append(_("⏱ Time limit: {seconds} seconds.", seconds=view.seconds))
    return "\n".join(lines)


def question_keyboard(_: Translator, view: QuestionView) -> Keyboard | None:
    base = f"{PREFIX}{view.aq_id}:"
    if view.type == "single":
        return [[Button(letter(i), data=f"{base}a{i}") for i in range(len(view.options))]]
    if view.type == "multiple":
        chosen = set(view.selection)
        toggles = [
            Button(f"{letter(i)} ✅" if i in chosen else letter(i), data=f"{base}t{i}")
            for i in range(len(view.options))
        ]
        return [toggles, [Button(_("Submit"), data=f"{base}s")]]
    if view.type == "judge":
        return [[Button(_(JUDGE_TRUE), data=f"{base}y"), Button(_(JUDGE_FALSE), data=f"{base}n")]]
    return None


def _shown_answer(_: Translator, outcome: AnswerOutcome) -> str:
    view = outcome.question
    if view is not None and view.type == "judge":
        return _(JUDGE_TRUE) if outcome.given == ["true"] else _(JUDGE_FALSE)
    return "".join(outcome.given) if view and view.type != "blank" else " ".join(outcome.given)


def answered_text(_: Translator, outcome: AnswerOutcome) -> str:
    """The question message once answered: the question, then the member's choice."""
    assert outcome.question is not None
    view = outcome.question
    lines = [header(_, view), view.text]
    if view.options and view.type in ("single", "multiple"):
        lines.append("")
        lines += [f"{letter(i)}. {option}" for i, option in enumerate(view.options)]
    lines.append("")
    lines.append(_("Your answer: {answer}", answer=_shown_answer(_, outcome)))
    return "\n".join(lines)


def _correct_answer(_: Translator, outcome: AnswerOutcome) -> str:
    view = outcome.question
    if view is not None and view.type == "judge":
        return _(JUDGE_TRUE) if outcome.answer and outcome.answer[0] else _(JUDGE_FALSE)
    return "；".join(outcome.correct_lines)


def feedback_text(_: Translator, outcome: AnswerOutcome) -> str:
    """Right or wrong, the correct answer, the explanation, the points won."""
    view = outcome.question
    mode = view.mode if view else "daily"
    if outcome.late:
        lines = [_("⏰ Time is up: an answer after the time limit counts as wrong.")]
    elif outcome.correct:
        lines = [_("✅ Correct!")]
    else:
        lines = [_("❌ Wrong.")]
    lines.append(_("Correct answer: {answer}", answer=_correct_answer(_, outcome)))
    if outcome.explanation:
        lines.append(_("Explanation: {text}", text=outcome.explanation))
    if mode in ("review", "material"):
        pass
    elif outcome.points > 0:
        lines.append(_("Points won: +{points}", points=outcome.points))
    elif outcome.capped:
        lines.append(_("Points won: 0 (today's limit for this quiz is reached)"))
    else:
        lines.append(_("Points won: 0"))
    if mode == "challenge" and outcome.correct:
        lines.append(_("Correct in a row: {n}", n=outcome.streak))
    return "\n".join(lines)


def summary_text(_: Translator, summary: Summary, *, again: bool = False) -> str:
    mode = _(MODE_NAMES.get(summary.mode, summary.mode))
    if again:
        if summary.mode == "special":
            first = _("You have already taken this special quiz.")
        elif summary.mode == "weekly":
            first = _("You have already done this week's quiz. Come back next week!")
        elif summary.mode == "daily":
            first = _("You have already done today's quiz. Come back tomorrow!")
        else:
            first = _("You have already done this quiz.")
    elif summary.mode == "challenge":
        first = _("Challenge over: {n} correct in a row.", n=summary.correct)
    else:
        first = _("The {mode} is finished!", mode=mode)
    lines = [first]
    if summary.bank_title:
        lines.append(summary.bank_title)
    lines.append(
        _(
            "Questions: {questions} · Correct: {correct} · Points won: {points}",
            questions=summary.questions,
            correct=summary.correct,
            points=summary.points,
        )
    )
    if summary.season_points is not None:
        lines.append(
            _(
                "Today: {today} points · This season ({season}): {season_points} points",
                today=summary.today_points,
                season=summary.season_name,
                season_points=summary.season_points,
            )
        )
    else:
        lines.append(
            _(
                "Today: {today} points · In total: {total} points",
                today=summary.today_points,
                total=summary.total_points,
            )
        )
    return "\n".join(lines)


def _local_date(context: StudyContext, when: dt.datetime) -> str:
    return when.astimezone(context.config.tz).strftime("%Y-%m-%d")


# --- sending --------------------------------------------------------------------------------


async def send_question(update: Update, context: StudyContext, view: QuestionView) -> None:
    _ = context.tr
    await say_quickly(update, context, question_text(_, view), keyboard=question_keyboard(_, view))


async def render_start(update: Update, context: StudyContext, result: StartResult) -> None:
    _ = context.tr
    status = result.status
    if status == "question" and result.question is not None:
        view = result.question
        if result.resumed:
            await reply(
                update,
                context,
                _(
                    "Continuing your unfinished {mode}.",
                    mode=_(MODE_NAMES.get(view.mode, view.mode)),
                ),
            )
        elif view.mode == "special" and result.bank_title:
            await reply(update, context, _("Special quiz: {title}", title=result.bank_title))
        await send_question(update, context, view)
    elif status == "done" and result.summary is not None:
        await reply(update, context, summary_text(_, result.summary, again=True))
    elif status == "empty":
        await reply(
            update,
            context,
            _("There are no questions to ask yet. An admin has to import a question bank."),
        )
    elif status == "campaigns":
        keyboard = [
            [
                Button(
                    ("✅ " if c.taken else "")
                    + _(
                        "{title} (until {day})",
                        title=c.campaign_title,
                        day=c.last_day.strftime("%m-%d"),
                    ),
                    data=f"{PREFIX}sp:{c.bank_id}",
                )
            ]
            for c in result.campaigns
        ]
        await reply(update, context, _("Special quizzes running now:"), keyboard=keyboard)
    elif status == "no_campaign":
        await reply(update, context, _("No special quiz is running now."))
    elif status == "unknown_bank":
        await reply(
            update,
            context,
            _("There is no such question bank. Send /special to see the special quizzes."),
        )
    elif status == "closed":
        await reply(
            update,
            context,
            _(
                "The special quiz {title} is not running today. Send /special to see the running ones.",
                title=result.bank_title,
            ),
        )
    elif status == "nothing_due":
        if result.notebook_size and result.next_due is not None:
            text = _(
                "Nothing to review today. Your notebook holds {count} questions; the next is due on {day}.",
                count=result.notebook_size,
                day=_local_date(context, result.next_due),
            )
        else:
            text = _("Your notebook of wrong answers is empty. Well done!")
        await reply(update, context, text)


async def _answer_query(update: Update, context: StudyContext, text: str | None = None) -> None:
    """Stop the button's spinner; a query too old to answer changes nothing about the answer."""
    query = update.callback_query
    if query is None:
        return
    try:
        await call(context, "answerCallbackQuery", callback_query_id=query.id, text=text)
    except TelegramError as exc:
        log.info("could not answer the button press: %s", exc)


async def _edit_answered(update: Update, context: StudyContext, text: str) -> bool:
    """Turn the question message into its answered form; False when it cannot be edited."""
    query = update.callback_query
    message = query.message if query is not None else None
    if message is None or len(text) > MessageLimit.MAX_TEXT_LENGTH:
        return False
    try:
        await call(
            context,
            "editMessageText",
            chat_id=message.chat.id,
            message_id=message.message_id,
            text=text,
        )
    except TelegramError as exc:  # the message is too old to edit: the answer stands
        log.info("could not edit the answered question: %s", exc)
        return False
    return True


async def _follow_up(update: Update, context: StudyContext, outcome: AnswerOutcome) -> None:
    """The next question, or the summary when the quiz is over."""
    if outcome.next_question is not None:
        await send_question(update, context, outcome.next_question)
    elif outcome.summary is not None:
        await say_quickly(update, context, summary_text(context.tr, outcome.summary))


async def render_answer(update: Update, context: StudyContext, outcome: AnswerOutcome) -> None:
    """A pressed question becomes its verdict in place (buttons gone, the member's choice,
    right or wrong, the correct answer, the explanation, the points) while the press is
    acknowledged and the next question or the summary is sent: the three calls do not
    depend on each other and go out together. A typed answer gets the verdict as a reply,
    then what follows."""
    _ = context.tr
    verdict = feedback_text(_, outcome)
    query = update.callback_query
    if query is None:
        await say_quickly(update, context, verdict)
        await _follow_up(update, context, outcome)
        return
    toast = _("✅ Correct!") if outcome.correct else _("❌ Wrong.")
    answered = f"{answered_text(_, outcome)}\n\n{verdict}"
    _ignored, shown, _done = await asyncio.gather(
        _answer_query(update, context, toast),
        _edit_answered(update, context, answered),
        _follow_up(update, context, outcome),
    )
    if not shown and query.message is not None:
        # The question could not be edited (too old): the verdict answers it as a reply.
        await say_quickly(update, context, verdict, reply_to=query.message.message_id)


# --- handlers -------------------------------------------------------------------------------


async def _start(
    update: Update, context: StudyContext, mode: str, bank_slug: str | None = None
) -> None:
    actor = context.actor
    assert actor is not None and actor.member_id is not None
    chat = update.effective_chat
    member_id = actor.member_id
    async with context.db.begin() as session:
        result = await run_inline(
            session,
            lambda s: service.start_quiz(
                s,
                context.config,
                member_id,
                mode=mode,
                bank_slug=bank_slug,
                telegram_id=actor.telegram_id,
                chat_id=chat.id if chat else None,
            ),
        )
    await render_start(update, context, result)


@requires("staff", private_only=True)
async def quiz_command(update: Update, context: StudyContext) -> None:
    await _start(update, context, "daily")


@requires("staff", private_only=True)
async def weekly_command(update: Update, context: StudyContext) -> None:
    await _start(update, context, "weekly")


@requires("staff", private_only=True)
async def special_command(update: Update, context: StudyContext) -> None:
    args = command_args(context)
    await _start(update, context, "special", args[0] if args else None)


@requires("staff", private_only=True)
async def challenge_command(update: Update, context: StudyContext) -> None:
    await _start(update, context, "challenge")


@requires("staff", private_only=True)
async def review_command(update: Update, context: StudyContext) -> None:
    await _start(update, context, "review")


_REFUSALS = {
    "duplicate": N_("This question has already been answered."),
    "stale": N_("This button is no longer valid."),
    "not_yours": N_("This is not your quiz."),
    "invalid": N_("This button is no longer valid."),
    "empty_selection": N_("Select at least one option first."),
}


@requires("staff", private_only=True)
async def quiz_button(update: Update, context: StudyContext) -> None:
    query = update.callback_query
    actor = context.actor
    assert query is not None and actor is not None and actor.member_id is not None
    _ = context.tr
    parts = (query.data or "").split(":")
    if len(parts) != 3:
        await query.answer(_("This button is no longer valid."))
        return
    if parts[1] == "sp":
        await _special_button(update, context, parts[2])
        return
    try:
        aq_id = int(parts[1])
        action = parts[2]
        index = int(action[1:]) if action[:1] in ("a", "t") else None
    except ValueError:
        await query.answer(_("This button is no longer valid."))
        return
    config = context.config
    member_id = actor.member_id
    telegram_id = actor.telegram_id

    async def press(session: AsyncSession) -> AnswerOutcome:
        if action[:1] == "a" and index is not None:
            return await service.answer_choice(
                session, config, member_id, aq_id, index, telegram_id=telegram_id
            )
        if action[:1] == "t" and index is not None:
            return await service.toggle_option(session, member_id, aq_id, index)
        if action == "s":
            return await service.submit_multiple(
                session, config, member_id, aq_id, telegram_id=telegram_id
            )
        if action in ("y", "n"):
            return await service.answer_judge(
                session, config, member_id, aq_id, action == "y", telegram_id=telegram_id
            )
        return AnswerOutcome("invalid")

    async with context.db.begin() as session:
        outcome = await run_inline(session, press)
    if outcome.status == "toggled" and outcome.question is not None:
        await query.answer()
        try:
            await query.edit_message_reply_markup(markup(question_keyboard(_, outcome.question)))
        except TelegramError as exc:
            log.info("could not update the toggles: %s", exc)
        return
    if outcome.status != "answered":
        await query.answer(_(_REFUSALS.get(outcome.status, _REFUSALS["stale"])))
        return
    await render_answer(update, context, outcome)


async def _special_button(update: Update, context: StudyContext, bank_id_text: str) -> None:
    query = update.callback_query
    assert query is not None
    _ = context.tr
    try:
        bank_id = int(bank_id_text)
    except ValueError:
        await query.answer(_("This button is no longer valid."))
        return
    async with context.db() as session:
        slug = await service.bank_slug_of(session, bank_id)
    await query.answer()
    if slug is None:
        await reply(update, context, _("This button is no longer valid."))
        return
    await _start(update, context, "special", slug)


async def blank_reply(update: Update, context: StudyContext, payload: dict) -> None:
    """A free-text message while a fill-in-the-blank question waits for its answer."""
    message = update.effective_message
    actor = context.actor
    _ = context.tr
    if message is None or not message.text or actor is None or actor.member_id is None:
        return
    aq_id = payload.get("aq")
    if not isinstance(aq_id, int):
        return
    member_id, text = actor.member_id, message.text
    async with context.db.begin() as session:
        outcome = await run_inline(
            session,
            lambda s: service.answer_blank(
                s, context.config, member_id, aq_id, text, telegram_id=actor.telegram_id
            ),
        )
    if outcome.status == "invalid":
        await reply(update, context, _("Please reply with your answer as text."))
        return
    if outcome.status != "answered":
        await reply(
            update, context, _("I did not understand that. Send /help to see what I can do.")
        )
        return
    await render_answer(update, context, outcome)


def register(app: Application) -> None:  # type: ignore[type-arg]
    TEXT_ROUTES[service.BLANK_INPUT] = blank_reply
    app.add_handler(CommandHandler("quiz", quiz_command))
    app.add_handler(CommandHandler("weekly", weekly_command))
    app.add_handler(CommandHandler("special", special_command))
    app.add_handler(CommandHandler("challenge", challenge_command))
    app.add_handler(CommandHandler("review", review_command))
    app.add_handler(CallbackQueryHandler(quiz_button, pattern=r"^q:"))
