"""The report workbook: overview, by department, by person, by question, raw activity.

Values are stored as numbers (rates as fractions formatted as percentages), so leaders can
sort and sum them; labels come from the same definitions as the text.
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot.i18n import Translator
from bot.reports.figures import ACTIVITY_LOG_LIMIT, Figures
from bot.reports.text import (
    DEPARTMENT_COLUMNS,
    department_name,
    department_rows,
    overview_rows,
    problems_paragraph,
    report_paragraph,
)

HEADER_FILL = PatternFill("solid", fgColor="F2DCDB")
BOLD = Font(bold=True)
FORMATS = {"rate": "0.0%", "average": "0.0", "count": "0"}


def _header(ws: Worksheet, row: int, titles: list[str]) -> None:
    for col, title in enumerate(titles, 1):
        cell = ws.cell(row=row, column=col, value=title)
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")


def _widths(ws: Worksheet, widths: list[int]) -> None:
    for i, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = width


def _put(ws: Worksheet, row: int, col: int, value: object, kind: str = "count") -> None:
    cell = ws.cell(row=row, column=col, value=value)
    if value is not None and kind in FORMATS and isinstance(value, int | float):
        cell.number_format = FORMATS[kind]


def workbook(figures: Figures, _: Translator) -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = _("Overview")
    ws["A1"] = _("Study report · {period}", period=figures.period.label)
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = _("{org} · {start} – {end}", org=figures.organization,
                 start=figures.period.start.isoformat(), end=figures.period.end.isoformat())  # fmt: skip
    _header(ws, 4, [_("Figure"), _("Value")])
    row = 5
    for metric in overview_rows(figures, _):
        ws.cell(row=row, column=1, value=metric.label)
        _put(ws, row, 2, metric.value, metric.kind)
        row += 1
    row += 1
    ws.cell(row=row, column=1, value=_("Study")).font = BOLD
    ws.cell(row=row + 1, column=1, value=report_paragraph(figures, _))
    ws.cell(row=row + 1, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells(start_row=row + 1, start_column=1, end_row=row + 1, end_column=6)
    ws.row_dimensions[row + 1].height = 150
    problems = problems_paragraph(figures, _)
    if problems:
        ws.cell(row=row + 2, column=1, value=_("Problems")).font = BOLD
        ws.cell(row=row + 3, column=1, value=problems)
        ws.cell(row=row + 3, column=1).alignment = Alignment(wrap_text=True, vertical="top")
        ws.merge_cells(start_row=row + 3, start_column=1, end_row=row + 3, end_column=6)
        ws.row_dimensions[row + 3].height = 80
    row += 5
    ws.cell(row=row, column=1, value=_("Trend")).font = BOLD
    _header(ws, row + 1, [_("Period"), _("Participants"), _("Participations (person-times)"),
                          _("Questions answered"), _("Average accuracy"), _("Points awarded")])  # fmt: skip
    for i, t in enumerate(figures.trend, row + 2):
        ws.cell(row=i, column=1, value=t.label)
        _put(ws, i, 2, t.participants)
        _put(ws, i, 3, t.participations)
        _put(ws, i, 4, t.answers)
        _put(ws, i, 5, t.accuracy, "rate")
        _put(ws, i, 6, t.points)
    _widths(ws, [36, 14, 16, 14, 14, 14])

    ws = wb.create_sheet(_("By department"))
    _header(
        ws, 1, [_("Rank"), _("Department")] + [_(label) for _k, label, _kd in DEPARTMENT_COLUMNS]
    )
    # Members without a department (id None) are not ranked: their rank cell stays empty.
    rank_of: dict[int | None, int] = {d.department_id: d.rank for d in figures.department_ranking}
    for r, dept in enumerate(figures.departments, 2):
        ws.cell(row=r, column=1, value=rank_of.get(dept.department_id))
        ws.cell(row=r, column=2, value=department_name(dept.name, _))
        for c, metric in enumerate(department_rows(dept, _), 3):
            _put(ws, r, c, metric.value, metric.kind)
    _widths(ws, [6, 16] + [12] * len(DEPARTMENT_COLUMNS))
    ws.freeze_panes = "C2"

    ws = wb.create_sheet(_("By person"))
    _header(ws, 1, [_("Rank"), _("Name"), _("Department"), _("On the roster"), _("Took part"),
                    _("Points"), _("Questions answered"), _("Correct answers"), _("Accuracy"),
                    _("Materials read (person-times)"), _("Quizzes taken (person-times)"),
                    _("Session attendance (person-times)"),
                    _("Discussion participants (person-times)"),
                    _("Study reflections submitted")])  # fmt: skip
    yes, no = _("yes"), _("no")
    for r, person in enumerate(figures.people, 2):
        p = person.figures
        values: list[tuple[object, str]] = [
            (person.rank, "count"),
            (person.name, "text"),
            (department_name(person.department, _), "text"),
            (yes if person.active else no, "text"),
            (yes if person.took_part else no, "text"),
            (p.points, "count"),
            (p.answers, "count"),
            (p.correct, "count"),
            (p.accuracy, "rate"),
            (p.reads, "count"),
            (p.quizzes_taken, "count"),
            (p.session_attendance, "count"),
            (p.discussion_joins, "count"),
            (p.reflections, "count"),
        ]
        for c, (value, kind) in enumerate(values, 1):
            _put(ws, r, c, value, kind)
    _widths(ws, [6, 12, 14, 8, 8, 8, 10, 10, 10, 12, 12, 12, 12, 12])
    ws.freeze_panes = "C2"

    ws = wb.create_sheet(_("By question"))
    _header(ws, 1, [_("Bank"), _("Question ID"), _("Question"), _("Answers"),
                    _("Correct answers"), _("Accuracy")])  # fmt: skip
    for r, q in enumerate(figures.questions, 2):
        ws.cell(row=r, column=1, value=q.bank)
        ws.cell(row=r, column=2, value=q.qid)
        ws.cell(row=r, column=3, value=q.text)
        _put(ws, r, 4, q.answers)
        _put(ws, r, 5, q.correct)
        _put(ws, r, 6, q.accuracy, "rate")
    _widths(ws, [18, 10, 60, 10, 10, 10])
    ws.freeze_panes = "A2"

    ws = wb.create_sheet(_("Raw activity"))
    _header(ws, 1, [_("Time"), _("Name"), _("Department"), _("Activity"), _("Detail")])
    names = {
        "answer": _("Answer"),
        "read": _("Read"),
        "checkin": _("Session check-in"),
        "discussion": _("Discussion"),
        "reflection": _("Reflection"),
    }
    tz = figures.period_tz
    for r, event in enumerate(figures.activity_log, 2):
        ws.cell(row=r, column=1, value=event.at.astimezone(tz).replace(tzinfo=None))
        ws.cell(row=r, column=1).number_format = "yyyy-mm-dd hh:mm"
        ws.cell(row=r, column=2, value=event.name)
        ws.cell(row=r, column=3, value=department_name(event.department, _))
        ws.cell(row=r, column=4, value=names.get(event.activity, event.activity))
        ws.cell(row=r, column=5, value=event.detail)
    if figures.activity_log_truncated:
        ws.cell(
            row=len(figures.activity_log) + 2,
            column=1,
            value=_("Only the latest {n} events are listed.", n=ACTIVITY_LOG_LIMIT),
        )
    _widths(ws, [18, 12, 14, 14, 30])
    ws.freeze_panes = "A2"
    return wb


def xlsx_bytes(figures: Figures, _: Translator) -> bytes:
    buffer = io.BytesIO()
    workbook(figures, _).save(buffer)
    return buffer.getvalue()
