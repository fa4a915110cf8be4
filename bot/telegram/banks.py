"""Question banks in chat: an admin's uploaded bank file is imported; /banks lists the banks.

The upload handler (``uploads.py``) has already checked the role, chat, type and size; a file
without a caption arrives here through ``DOCUMENT_ROUTES[""]``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from telegram import Update
from telegram.constants import MessageLimit
from telegram.ext import Application, CommandHandler

from bot.banks.catalog import BankInfo, list_banks
from bot.banks.importer import BankError, import_bank
from bot.banks.problems import Problem
from bot.i18n import N_, Translator
from bot.telegram.common import reply, requires
from bot.telegram.context import StudyContext
from bot.telegram.uploads import DOCUMENT_ROUTES

log = logging.getLogger("studybot.banks")

SHOWN_PROBLEMS = 20
TYPE_NAMES = {
    "single": N_("single choice"),
    "multiple": N_("multiple choice"),
    "judge": N_("true/false"),
    "blank": N_("fill in the blank"),
}


def problems_text(_: Translator, file: str, problems: Sequence[Problem]) -> str:
    """The refusal: the first problems in full, a count of the rest, within one message."""
    head = _(
        "{file} was not imported; nothing changed. {count} problem(s):",
        file=file,
        count=len(problems),
    )
    lines: list[str] = []
    budget = MessageLimit.MAX_TEXT_LENGTH - len(head) - 100
    for problem in problems[:SHOWN_PROBLEMS]:
        line = "• " + problem.render(_)
        if len(line) > 400:
            line = line[:399] + "…"
        if budget - len(line) - 1 < 0:
            break
        budget -= len(line) + 1
        lines.append(line)
    text = head + "\n" + "\n".join(lines)
    rest = len(problems) - len(lines)
    if rest > 0:
        text += "\n" + _("…and {count} more.", count=rest)
    return text


async def bank_upload(update: Update, context: StudyContext, filename: str, content: bytes) -> None:
    _ = context.tr
    actor = context.actor
    try:
        async with context.db.begin() as session:
            summary = await import_bank(
                session,
                context.config,
                filename,
                content,
                actor_telegram_id=actor.telegram_id if actor else None,
            )
    except BankError as exc:
        log.info("bank upload %s refused: %d problem(s)", filename, len(exc.problems))
        await reply(update, context, problems_text(_, filename, exc.problems))
        return
    except IntegrityError:
        # Two imports of the same new bank or question raced; the loser changed nothing.
        await reply(
            update,
            context,
            _(
                "{file}: another import of this bank ran at the same time; nothing changed. "
                "Please send the file again.",
                file=filename,
            ),
        )
        return
    log.info(
        "bank %s imported from %s: +%d ~%d -%d =%d",
        summary.bank,
        filename,
        summary.added,
        summary.updated,
        summary.retired,
        summary.unchanged,
    )
    await reply(update, context, summary.render(_))


def bank_line(_: Translator, info: BankInfo) -> str:
    counts = ("、" if _.is_zh else ", ").join(
        f"{_(TYPE_NAMES[t])} {n}" for t, n in info.counts.items() if n and t in TYPE_NAMES
    )
    text = _(
        "• {bank} {title}: {total} questions ({counts})",
        bank=info.slug,
        title=info.title,
        total=info.total,
        counts=counts or "—",
    )
    if info.campaign is not None:
        text += "\n  " + _(
            "special campaign {title}, {start} to {end}, {count} per attempt",
            title=info.campaign.title,
            start=info.campaign.start.isoformat(),
            end=info.campaign.end.isoformat(),
            count=info.campaign.questions,
        )
    if info.retired:
        text += "\n  " + _("{count} retired", count=info.retired)
    if not info.active:
        text += "\n  " + _("not used for daily and weekly quizzes")
    return text


@requires("admin")
async def banks_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    async with context.db() as session:
        banks = await list_banks(session)
    if not banks:
        await reply(
            update,
            context,
            _(
                "There are no question banks yet. Send me a bank file (.yaml, .xlsx or .csv) "
                "in this private chat to import one."
            ),
        )
        return
    lines = [_("Question banks ({count}):", count=len(banks))]
    lines += [bank_line(_, info) for info in banks]
    lines.append(
        _("To add or update a bank, send its file (.yaml, .xlsx or .csv) without a caption.")
    )
    text = "\n".join(lines)
    if len(text) > MessageLimit.MAX_TEXT_LENGTH:
        text = text[: MessageLimit.MAX_TEXT_LENGTH - 1] + "…"
    await reply(update, context, text)


def register(app: Application) -> None:  # type: ignore[type-arg]
    DOCUMENT_ROUTES[""] = bank_upload
    app.add_handler(CommandHandler("banks", banks_command))  # type: ignore[arg-type]
