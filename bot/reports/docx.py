"""The study section of a work report as a Word document (python-docx).

Chinese text needs the East Asian font set explicitly (``w:eastAsia``): Word otherwise falls
back to a Latin font for 汉字 on some systems. Body text uses 宋体 and headings 黑体, the usual
choice for official documents; the reader's Word substitutes an installed CJK font if needed.
"""

from __future__ import annotations

import io

from docx import Document
from docx.document import Document as DocumentType
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from bot.i18n import Translator
from bot.reports.charts import summary_chart
from bot.reports.figures import Figures
from bot.reports.text import (
    department_name,
    fmt,
    overview_rows,
    pct,
    problems_paragraph,
    report_paragraph,
)

BODY_FONT = "宋体"
HEADING_FONT = "黑体"
LATIN_FONT = "Times New Roman"


def _set_font(style: object, east_asia: str, latin: str, size: float | None = None) -> None:
    font = style.font  # type: ignore[attr-defined]
    font.name = latin
    if size is not None:
        font.size = Pt(size)
    rpr = style.element.get_or_add_rPr()  # type: ignore[attr-defined]
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attr), latin)
    fonts.set(qn("w:eastAsia"), east_asia)


def _styles(doc: DocumentType) -> None:
    _set_font(doc.styles["Normal"], BODY_FONT, LATIN_FONT, 12)
    for name in ("Title", "Heading 1", "Heading 2", "Heading 3", "Caption"):
        _set_font(doc.styles[name], HEADING_FONT, LATIN_FONT)
    _set_font(doc.styles["Table Grid"], BODY_FONT, LATIN_FONT)


def _table(doc: DocumentType, header: list[str], rows: list[list[str]]) -> None:
    table = doc.add_table(rows=1, cols=len(header))
    table.style = doc.styles["Table Grid"]
    for cell, title in zip(table.rows[0].cells, header, strict=True):
        cell.text = title
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for values in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, values, strict=True):
            cell.text = value


def document(figures: Figures, _: Translator) -> DocumentType:
    doc = Document()
    _styles(doc)
    for section in doc.sections:
        section.left_margin = section.right_margin = Cm(2.6)
    title = doc.add_heading(_("Study report · {period}", period=figures.period.label), level=0)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph(
        _("{org} · {start} – {end}", org=figures.organization,
          start=figures.period.start.isoformat(), end=figures.period.end.isoformat())
    ).alignment = WD_ALIGN_PARAGRAPH.CENTER  # fmt: skip

    doc.add_heading(_("Study"), level=1)
    paragraph = doc.add_paragraph(report_paragraph(figures, _))
    paragraph.paragraph_format.first_line_indent = Pt(24)
    problems = problems_paragraph(figures, _)
    if problems:
        doc.add_heading(_("Problems"), level=2)
        doc.add_paragraph(problems).paragraph_format.first_line_indent = Pt(24)

    doc.add_heading(_("Overview"), level=2)
    _table(doc, [_("Figure"), _("Value")], [[m.label, m.text] for m in overview_rows(figures, _)])

    doc.add_heading(_("By department"), level=2)
    # Members without a department (id None) are not ranked: their rank cell stays empty.
    rank_of: dict[int | None, int] = {d.department_id: d.rank for d in figures.department_ranking}
    _table(
        doc,
        [_("Rank"), _("Department"), _("Members on the roster"), _("Participants"),
         _("Participation rate"), _("Participations (person-times)"), _("Average accuracy"),
         _("Average points per member")],
        [
            [fmt(rank_of.get(d.department_id)), department_name(d.name, _),
             fmt(d.figures.roster), fmt(d.figures.participants),
             pct(d.figures.participation_rate), fmt(d.figures.participations),
             pct(d.figures.accuracy), fmt(d.figures.average_points, "average")]
            for d in figures.departments
        ],
    )  # fmt: skip

    doc.add_heading(_("Chart"), level=2)
    doc.add_picture(io.BytesIO(summary_chart(figures, _)), width=Cm(15.5))

    if figures.top:
        doc.add_heading(_("Top {n}", n=len(figures.top)), level=2)
        _table(
            doc,
            [_("Rank"), _("Name"), _("Department"), _("Points"), _("Accuracy")],
            [[str(r.rank), r.name, department_name(r.department, _), str(r.points),
              pct(r.accuracy)] for r in figures.top],
        )  # fmt: skip
    if figures.weak_questions:
        doc.add_heading(_("Questions with the lowest accuracy"), level=2)
        _table(
            doc,
            [_("Bank"), _("Question"), _("Answers"), _("Accuracy")],
            [[q.bank, q.text, str(q.answers), pct(q.accuracy)] for q in figures.weak_questions],
        )
    if figures.sessions:
        doc.add_heading(_("In-person sessions"), level=2)
        _table(
            doc,
            [_("Date"), _("Title"), _("Kind"), _("Attendance"), _("Expected")],
            [[s.opened_at.astimezone(figures.period_tz).date().isoformat(), s.title, s.kind,
              str(s.attendance), str(s.expected)] for s in figures.sessions],
        )  # fmt: skip
    return doc


def docx_bytes(figures: Figures, _: Translator) -> bytes:
    buffer = io.BytesIO()
    document(figures, _).save(buffer)
    return buffer.getvalue()
