"""All reflections of a period as XLSX (a table to sort and filter) or DOCX (a booklet to read
and quote from in the unit's report). Both files come from the same rows."""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.core.discussion_rules import reflection_length
from bot.core.periods import Period
from bot.db.models import Department, Member, PlanItem, Reflection, StudySession
from bot.i18n import N_, Translator, translator

FORMATS = ("xlsx", "docx")
# Characters XML (and so XLSX and DOCX) cannot hold: C0 controls except tab, newline, return.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

COLUMNS = (
    N_("No."),
    N_("Submitted"),
    N_("Name"),
    N_("Department"),
    N_("Characters"),
    N_("About"),
    N_("Reflection text"),
)


@dataclass(frozen=True)
class ExportRow:
    submitted: dt.datetime  # local time
    name: str
    department: str | None
    length: int
    about: str | None
    text: str


def clean(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


async def reflections_in_period(
    session: AsyncSession, config: Config, period: Period
) -> list[ExportRow]:
    """Every reflection submitted in ``period`` (local days), oldest first."""
    start, end = period.bounds_utc(config.tz)
    rows = await session.execute(
        select(Reflection, Member.name, Department.name, PlanItem.title, StudySession.title)
        .join(Member, Member.id == Reflection.member_id)
        .outerjoin(Department, Department.id == Member.department_id)
        .outerjoin(PlanItem, PlanItem.id == Reflection.plan_item_id)
        .outerjoin(StudySession, StudySession.id == Reflection.session_id)
        .where(Reflection.created_at >= start, Reflection.created_at < end)
        .order_by(Reflection.created_at, Reflection.id)
    )
    return [
        ExportRow(
            reflection.created_at.astimezone(config.tz).replace(tzinfo=None),
            name,
            dept,
            reflection_length(reflection.text),
            material or sess,
            reflection.text,
        )
        for reflection, name, dept, material, sess in rows
    ]


def export_title(config: Config, period: Period, _: Translator) -> str:
    return _(
        "{organization} study reflections, {period}",
        organization=config.organization,
        period=period.label,
    )


def export_filename(period: Period, fmt: str) -> str:
    key = re.sub(r"[^0-9A-Za-z._-]+", "_", period.key).strip("_") or "period"
    return f"reflections-{key}.{fmt}"


def _by_department(rows: list[ExportRow]) -> list[tuple[str | None, int, int]]:
    """(department, reflections, distinct authors) in order of first appearance."""
    counts: dict[str | None, list[int]] = {}
    authors: dict[str | None, set[str]] = {}
    for row in rows:
        counts.setdefault(row.department, [0])[0] += 1
        authors.setdefault(row.department, set()).add(row.name)
    return sorted(
        ((dept, n[0], len(authors[dept])) for dept, n in counts.items()),
        key=lambda item: (-item[1], item[0] or ""),
    )


def to_xlsx(rows: list[ExportRow], config: Config, period: Period, locale: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    _ = translator(locale)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("Reflections")[:31]
    sheet.append([_(c) for c in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    for number, row in enumerate(rows, start=1):
        values = [
            number,
            row.submitted,
            clean(row.name),
            clean(row.department or _("(no department)")),
            row.length,
            clean(row.about or ""),
            clean(row.text),
        ]
        sheet.append(values)
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text that starts with "=" stays text, never a formula
            cell.alignment = wrap
        sheet.cell(sheet.max_row, 2).number_format = "yyyy-mm-dd hh:mm"
    for column, width in zip("ABCDEFG", (6, 17, 12, 14, 8, 24, 80), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions

    summary = workbook.create_sheet(_("Reflections by department")[:31])
    summary.append([_("Department"), _("Reflections"), _("Authors")])
    for cell in summary[1]:
        cell.font = Font(bold=True)
    for dept, count, authors in _by_department(rows):
        summary.append([clean(dept or _("(no department)")), count, authors])
    summary.append([_("Total"), len(rows), len({(r.name, r.department) for r in rows})])
    summary.column_dimensions["A"].width = 18
    workbook.properties.title = clean(export_title(config, period, _))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def to_docx(rows: list[ExportRow], config: Config, period: Period, locale: str) -> bytes:
    from docx import Document
    from docx.shared import Pt

    _ = translator(locale)
    document = Document()
    document.core_properties.title = clean(export_title(config, period, _))
    document.add_heading(clean(export_title(config, period, _)), level=1)
    authors = len({(r.name, r.department) for r in rows})
    document.add_paragraph(
        _(
            "{count} reflections by {authors} members, {start} to {end}.",
            count=len(rows),
            authors=authors,
            start=period.start.isoformat(),
            end=period.end.isoformat(),
        )
    )
    if rows:
        table = document.add_table(rows=1, cols=3)
        table.style = "Table Grid"
        header = table.rows[0].cells
        header[0].text, header[1].text, header[2].text = (
            _("Department"),
            _("Reflections"),
            _("Authors"),
        )
        for dept, count, dept_authors in _by_department(rows):
            cells = table.add_row().cells
            cells[0].text = clean(dept or _("(no department)"))
            cells[1].text = str(count)
            cells[2].text = str(dept_authors)
    for number, row in enumerate(rows, start=1):
        heading = _(
            "{number}. {name} ({department}), {date}",
            number=number,
            name=row.name,
            department=row.department or _("(no department)"),
            date=row.submitted.strftime("%Y-%m-%d %H:%M"),
        )
        document.add_heading(clean(heading), level=2)
        if row.about:
            about = document.add_paragraph()
            run = about.add_run(clean(_("About: {title}", title=row.about)))
            run.italic = True
        for line in clean(row.text).splitlines():
            if line.strip():
                paragraph = document.add_paragraph(line.strip())
                paragraph.paragraph_format.first_line_indent = Pt(21)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content: bytes
    count: int


async def export_reflections(
    session: AsyncSession, config: Config, period: Period, fmt: str, *, locale: str | None = None
) -> ExportFile:
    """The reflections of ``period`` as one file; ``fmt`` is xlsx or docx."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use xlsx or docx")
    rows = await reflections_in_period(session, config, period)
    locale = locale or config.locale
    writer = to_xlsx if fmt == "xlsx" else to_docx
    return ExportFile(export_filename(period, fmt), writer(rows, config, period, locale), len(rows))
