"""Text, XLSX, DOCX and PNG agree on every figure; files open with the real libraries."""

from __future__ import annotations

import io

import pytest
from docx import Document
from docx.oxml.ns import qn
from openpyxl import load_workbook
from PIL import Image

from bot.i18n import translator
from bot.reports import charts
from bot.reports.figures import compute_figures
from bot.reports.outputs import render
from bot.reports.text import overview_rows, report_paragraph, summary_message
from tests.reports import dataset
from tests.reports.dataset import EMPTY, NOV


@pytest.fixture
async def figures(db, config):
    async with db.begin() as session:
        await dataset.build(session)
    async with db() as session:
        return await compute_figures(session, config, NOV)


def test_paragraph_reads_like_a_report(figures) -> None:
    text = report_paragraph(figures, translator("zh_CN"))
    assert text.startswith("2026年11月，测试区局依托学习平台共推送学习材料2期")
    for phrase in ("集中学习和专题研讨2次", "参加5人次", "出勤率50.0%", "主题讨论2次",
                   "学习心得2篇", "直播答题1场", "在线答题5人次", "累计参与18人次",
                   "参学率66.7%", "平均正确率75.0%", "积分39分"):  # fmt: skip
        assert phrase in text
    english = report_paragraph(figures, translator("en"))
    assert "participation rate 66.7%" in english and "average accuracy was 75.0%" in english


def test_summary_message_has_every_figure(figures) -> None:
    _ = translator("zh_CN")
    message = summary_message(figures, _)
    for metric in overview_rows(figures, _):
        assert f"{metric.label}: {metric.text}" in message
    assert "1. 张三（办公室）14分" in message
    assert "下列属于国家秘密密级的有？ — 40.0% (2/5)" in message
    assert len(message) <= 4096


def test_xlsx_agrees_with_the_figures(figures) -> None:
    _ = translator("zh_CN")
    wb = load_workbook(io.BytesIO(render(figures, "xlsx", _)))
    assert wb.sheetnames == ["概览", "分部门", "分人员", "分题目", "原始记录"]
    overview = {row[0]: row[1] for row in wb["概览"].iter_rows(min_row=5, values_only=True)}
    for metric in overview_rows(figures, _):
        assert overview[metric.label] == pytest.approx(metric.value), metric.label
    depts = list(wb["分部门"].iter_rows(values_only=True))
    header = depts[0]
    office = dict(zip(header, depts[1], strict=True))
    assert office["部门"] == "办公室" and office["名次"] == 1
    assert (office["在册人数"], office["参学人数"], office["发放积分"]) == (2, 2, 26)
    assert office["人均积分"] == 9.5
    assert depts[-1][1] == "未分配部门"
    people = list(wb["分人员"].iter_rows(min_row=2, values_only=True))
    assert people[0][:3] == (1, "张三", "办公室")
    assert len(people) == 7  # 6 on the roster + the member who left but took part
    questions = list(wb["分题目"].iter_rows(min_row=2, values_only=True))
    assert questions[0][1:2] + questions[0][3:5] == ("m1", 5, 2)
    raw = list(wb["原始记录"].iter_rows(min_row=2, values_only=True))
    assert len(raw) == len(figures.activity_log) == 33


def test_docx_agrees_and_sets_east_asian_fonts(figures) -> None:
    _ = translator("zh_CN")
    doc = Document(io.BytesIO(render(figures, "docx", _)))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert report_paragraph(figures, _) in text
    assert "正确率较低的题目有" in text
    cells = {}
    for row in doc.tables[0].rows:
        cells[row.cells[0].text] = row.cells[1].text
    for metric in overview_rows(figures, _):
        assert cells[metric.label] == metric.text
    fonts = doc.styles["Normal"].element.rPr.find(qn("w:rFonts"))
    assert fonts.get(qn("w:eastAsia")) == "宋体"
    assert len(doc.inline_shapes) == 1  # the chart


def test_markdown_and_png(figures) -> None:
    _ = translator("zh_CN")
    md = render(figures, "md", _).decode("utf-8")
    assert "| 参学率 | 66.7% |" in md and "## 存在问题" in md
    image = Image.open(io.BytesIO(render(figures, "png", _)))
    assert image.format == "PNG" and image.size[0] > 800
    assert charts.BUNDLED_FAMILY in charts.font_families()


def test_bundled_font_covers_the_report_text(figures) -> None:
    from fontTools.ttLib import TTFont

    font = TTFont(next(charts.FONTS_DIR.glob("*.otf")))
    cmap = font.getBestCmap()
    text = report_paragraph(figures, translator("zh_CN")) + "".join(
        d.name or "" for d in figures.departments
    )
    missing = {ch for ch in text if not ch.isspace() and ord(ch) not in cmap}
    assert not missing


async def test_empty_period_renders_everywhere(db, config) -> None:
    async with db() as session:
        f = await compute_figures(session, config, EMPTY)
    _ = translator("zh_CN")
    assert "暂无学习活动记录" in report_paragraph(f, _)
    for kind in ("md", "xlsx", "docx", "png"):
        assert render(f, kind, _)
