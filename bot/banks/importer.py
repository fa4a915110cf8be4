"""Importing a bank file into the database, all-or-nothing, with question versions.

A question's content lives in ``question_versions``; ``questions.current_version_id`` points at
the version quizzes ask now. A re-import compares content hashes: a changed question gets a
new version (answers given before keep pointing at the old one), a new question is added, a
question missing from the file is retired, and an identical file writes nothing at all.

Writes are set-based (executemany INSERTs, one UPDATE that points questions at their latest
version, one query to load what the bank holds), so a 10,000-question bank imports in
seconds on both backends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.banks import problems as P
from bot.banks.formats import display_name, parse_bank
from bot.banks.model import ParsedBank, ParsedQuestion, Progress
from bot.banks.problems import BankError, Problem
from bot.config import Config
from bot.db.models import AuditEntry, Bank, Question, QuestionVersion
from bot.db.types import utcnow
from bot.i18n import Translator, translator

__all__ = ["BankError", "ImportSummary", "check_size", "import_bank", "store_bank"]

CHUNK = 2000
# The example workbook in quizzes/: it imports (one example question) but stays out of the
# daily and weekly draws, and the summary says how to turn it into a real bank.
TEMPLATE_SLUG = "bank-template"
# Core tables: executemany INSERT without RETURNING is the fast path on both backends.
QUESTIONS = cast(Table, Question.__table__)
VERSIONS = cast(Table, QuestionVersion.__table__)


@dataclass
class ImportSummary:
    """What an import did to one bank."""

    file: str
    bank: str
    title: str
    added: int = 0
    updated: int = 0
    retired: int = 0
    unchanged: int = 0
    new_bank: bool = False
    details_changed: bool = False  # title, tags or campaign
    reordered: int = 0  # unchanged questions that moved within the bank

    @property
    def changed(self) -> bool:
        return bool(
            self.added or self.updated or self.retired or self.details_changed or self.reordered
        )

    @property
    def questions(self) -> int:
        """Active questions after the import."""
        return self.added + self.updated + self.unchanged

    def render(self, tr: Translator | None = None) -> str:
        _ = tr or translator("en")
        text = self._counts(_)
        if self.bank == TEMPLATE_SLUG:
            text += ("" if _.is_zh else " ") + _(
                "This is the bank template: it is kept out of daily and weekly quizzes. To make "
                "a bank, copy the file, name it after your bank (e.g. fire-safety.xlsx), rename "
                "the first sheet to the bank's title and replace the example row."
            )
        return text

    def _counts(self, _: Translator) -> str:
        if not self.changed and not self.new_bank:
            return _(
                "{file}: bank {bank} ({title}) is unchanged ({count} questions); nothing was "
                "written.",
                file=self.file,
                bank=self.bank,
                title=self.title,
                count=self.unchanged,
            )
        text = _(
            "{file}: bank {bank} ({title}): {added} added, {updated} updated, {retired} "
            "retired, {unchanged} unchanged.",
            file=self.file,
            bank=self.bank,
            title=self.title,
            added=self.added,
            updated=self.updated,
            retired=self.retired,
            unchanged=self.unchanged,
        )
        sep = "" if _.is_zh else " "
        if self.new_bank:
            text += sep + _("New bank.")
        elif self.details_changed:
            text += sep + _("Bank details (title, tags, campaign) updated.")
        if self.reordered:
            text += sep + _("Question order updated.")
        return text


def check_size(filename: str, size: int, config: Config) -> None:
    """Refuse a file over ``uploads.max_mb`` before reading it."""
    limit = config.uploads.max_bytes
    if size > limit:
        raise BankError(
            [
                Problem(
                    display_name(filename),
                    P.FILE_TOO_LARGE,
                    {"size": f"{size / 1048576:.1f}", "limit": f"{config.uploads.max_mb:g}"},
                )
            ]
        )


async def import_bank(
    session: AsyncSession,
    config: Config,
    filename: str,
    content: bytes,
    *,
    actor_telegram_id: int | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Validate ``content`` completely, then write the bank; the caller's transaction commits.

    Raises BankError (listing every problem) before anything is written.
    """
    check_size(filename, len(content), config)
    # Parsing is CPU work; a thread keeps the bot's event loop answering meanwhile.
    parsed = await asyncio.to_thread(parse_bank, filename, content, progress)
    return await store_bank(
        session,
        parsed,
        source_name=display_name(filename),
        actor_telegram_id=actor_telegram_id,
        progress=progress,
    )


def _version_row(
    question_id: int, version: int, q: ParsedQuestion, now: dt.datetime
) -> dict[str, Any]:
    return {
        "created_at": now,
        "question_id": question_id,
        "version": version,
        "type": q.type,
        "text": q.text,
        "options": q.options,
        "answer": q.answer,
        "explanation": q.explanation,
        "difficulty": q.difficulty,
        "tags": q.tags,
        "content_hash": q.content_hash,
    }


def _chunks(rows: Sequence[dict[str, Any]]) -> list[Sequence[dict[str, Any]]]:
    return [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]


async def store_bank(
    session: AsyncSession,
    parsed: ParsedBank,
    *,
    source_name: str,
    actor_telegram_id: int | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Bring the database's copy of ``parsed.slug`` in line with ``parsed``."""
    summary = ImportSummary(source_name, parsed.slug, parsed.title)
    bank = await session.scalar(select(Bank).where(Bank.slug == parsed.slug))
    details = {
        "title": parsed.title,
        "tags": parsed.tags,
        "campaign_title": parsed.campaign.title if parsed.campaign else None,
        "campaign_from": parsed.campaign.start if parsed.campaign else None,
        "campaign_to": parsed.campaign.end if parsed.campaign else None,
        "campaign_questions": parsed.campaign.questions if parsed.campaign else None,
    }
    existing: dict[str, Any] = {}
    if bank is not None:
        rows = await session.execute(
            select(
                Question.id,
                Question.qid,
                Question.retired,
                Question.position,
                QuestionVersion.content_hash,
            )
            .outerjoin(QuestionVersion, QuestionVersion.id == Question.current_version_id)
            .where(Question.bank_id == bank.id)
        )
        existing = {row.qid: row for row in rows}
        summary.details_changed = any(getattr(bank, k) != v for k, v in details.items())

    new: list[tuple[int, ParsedQuestion]] = []
    changed: list[tuple[Any, int, ParsedQuestion]] = []  # (row, position, question)
    moved: list[dict[str, Any]] = []
    restored: list[dict[str, Any]] = []  # retired, back in the file with the same content
    for position, question in enumerate(parsed.questions):
        row = existing.get(question.qid)
        if row is None:
            new.append((position, question))
            summary.added += 1
        elif row.content_hash != question.content_hash:
            changed.append((row, position, question))
            if row.retired:
                summary.added += 1  # back in the file, with new content
            else:
                summary.updated += 1
        elif row.retired:
            restored.append({"id": row.id, "retired": False, "position": position})
            summary.added += 1
        else:
            summary.unchanged += 1
            if row.position != position:
                moved.append({"id": row.id, "position": position})
    in_file = {q.qid for q in parsed.questions}
    retire = [row.id for qid, row in existing.items() if qid not in in_file and not row.retired]
    summary.retired = len(retire)

    summary.reordered = len(moved)
    if bank is not None and not summary.changed:
        return summary  # the same bank again: nothing to write

    now = utcnow()
    if bank is None:
        bank = Bank(
            slug=parsed.slug,
            source_name=source_name,
            active=parsed.slug != TEMPLATE_SLUG,
            **details,
        )
        session.add(bank)
        await session.flush()
        summary.new_bank = True
    else:
        for key, value in details.items():
            setattr(bank, key, value)
        bank.source_name = source_name
        bank.updated_at = now
        await session.flush()

    total = len(new) + len(changed)
    done = 0
    # Core executemany without RETURNING: several times faster than INSERT … RETURNING on
    # PostgreSQL; the new ids are read back with one query.
    new_rows = [
        {"bank_id": bank.id, "qid": q.qid, "position": pos, "retired": False, "created_at": now}
        for pos, q in new
    ]
    for chunk in _chunks(new_rows):
        await session.execute(insert(QUESTIONS), list(chunk))
    question_ids: dict[str, int] = {row.qid: row.id for row, _pos, _q in changed}
    if new:
        result = await session.execute(
            select(Question.id, Question.qid).where(Question.bank_id == bank.id)
        )
        question_ids.update({qid: question_id for question_id, qid in result})

    next_version: dict[int, int] = {}
    changed_ids = [row.id for row, _pos, _q in changed]
    for start in range(0, len(changed_ids), CHUNK):
        ids = changed_ids[start : start + CHUNK]
        result = await session.execute(
            select(QuestionVersion.question_id, func.max(QuestionVersion.version))
            .where(QuestionVersion.question_id.in_(ids))
            .group_by(QuestionVersion.question_id)
        )
        next_version.update({int(qid): int(top or 0) + 1 for qid, top in result})

    version_rows = [_version_row(question_ids[q.qid], 1, q, now) for _pos, q in new]
    version_rows += [
        _version_row(row.id, next_version.get(row.id, 1), q, now) for row, _pos, q in changed
    ]
    for chunk in _chunks(version_rows):
        await session.execute(insert(VERSIONS), list(chunk))
        done += len(chunk)
        if progress is not None:
            progress("write", done, total)

    if version_rows:
        # Point every question of the bank at its latest version, in one statement.
        latest = (
            select(QuestionVersion.id)
            .where(QuestionVersion.question_id == Question.id)
            .order_by(QuestionVersion.version.desc())
            .limit(1)
            .correlate(Question)
            .scalar_subquery()
        )
        await session.execute(
            update(Question)
            .where(
                Question.bank_id == bank.id, Question.current_version_id.is_distinct_from(latest)
            )
            .values(current_version_id=latest)
            .execution_options(synchronize_session=False)
        )

    updates: list[dict[str, Any]] = [
        {"id": row.id, "retired": False, "position": pos}
        for row, pos, _q in changed
        if row.retired or row.position != pos
    ]
    updates += moved + restored
    updates += [{"id": question_id, "retired": True} for question_id in retire]
    for chunk in _chunks(updates):
        await session.execute(update(Question), list(chunk))

    session.add(
        AuditEntry(
            actor_telegram_id=actor_telegram_id,
            action="bank.import",
            detail={
                "bank": parsed.slug,
                "file": source_name,
                "added": summary.added,
                "updated": summary.updated,
                "retired": summary.retired,
                "unchanged": summary.unchanged,
            },
        )
    )
    await session.flush()
    return summary
