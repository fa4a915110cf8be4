"""Reflections exported as XLSX and DOCX (opened with openpyxl / python-docx), and the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from docx import Document
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import main
from bot.config import Config
from bot.core.periods import custom_period, parse_period
from bot.db.models import PlanItem
from bot.discussions import reflections as notes
from bot.discussions.export import export_filename, export_reflections
from tests.discussions.conftest import People

NOV = parse_period("2026-11", dt.date(2026, 11, 26))
TEXT_LI = "学习宪法心得：宪法是国家的根本法，是治国安邦的总章程。" * 4
TEXT_WANG = "=SUM(A1:A2) 这一句看起来像公式，但它只是心得的开头。\x07" + "保密工作人人有责。" * 12


async def _seed(db: async_sessionmaker[AsyncSession], config: Config, people: People) -> None:
    async with db.begin() as session:
        item = PlanItem(slug="law", title="宪法学习材料", when="2026-11-01T09:00")
        session.add(item)
        await session.flush()
        entries = [
            (people.li, 1, TEXT_LI, dt.datetime(2026, 11, 3, 2, 0, tzinfo=dt.UTC), item.id),
            (people.wang, 2, TEXT_WANG, dt.datetime(2026, 11, 10, 2, 0, tzinfo=dt.UTC), None),
            # 2026-11-30 16:30 UTC is 2026-12-01 00:30 in Shanghai: December, not November
            (people.zhao, 3, TEXT_LI, dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC), None),
            # 2026-10-31 17:00 UTC is 2026-11-01 01:00 in Shanghai: November
            (people.zhao, 4, TEXT_LI, dt.datetime(2026, 10, 31, 17, 0, tzinfo=dt.UTC), None),
        ]
        for member_id, message_id, text, at, item_id in entries:
            link = notes.Link("m", item_id, "") if item_id else None
            outcome = await notes.submit_reflection(
                session,
                config,
                member_id=member_id,
                message_id=message_id,
                text=text,
                now=at,
                link=link,
            )
            assert outcome.status == "stored"


async def test_xlsx_export_opens_and_holds_the_period(
    db: async_sessionmaker[AsyncSession], config: Config, people: People
) -> None:
    await _seed(db, config, people)
    async with db() as session:
        exported = await export_reflections(session, config, NOV, "xlsx")
    assert exported.count == 3
    assert exported.filename == "reflections-2026-11.xlsx"
    workbook = load_workbook(io.BytesIO(exported.content))
    sheet = workbook["学习心得"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("序号", "提交时间", "姓名", "部门", "字数", "关联学习内容", "心得内容")
    assert [r[2] for r in rows[1:]] == ["赵强", "李明", "王芳"]
    assert rows[1][1] == dt.datetime(2026, 11, 1, 1, 0)  # local time
    assert rows[2][3] == "办公室" and rows[2][5] == "宪法学习材料" and rows[2][6] == TEXT_LI
    assert rows[2][4] == len(TEXT_LI)
    # text that looks like a formula stays text; control characters are dropped
    cell = sheet.cell(4, 7)
    assert cell.data_type == "s" and cell.value == TEXT_WANG.replace("\x07", "")
    summary = list(workbook["按部门统计"].iter_rows(values_only=True))
    assert summary[0] == ("部门", "学习心得", "提交人数")
    assert ("办公室", 2, 2) in summary and ("宣传科", 1, 1) in summary
    assert summary[-1] == ("合计", 3, 3)


async def test_docx_export_opens_and_reads_like_a_booklet(
    db: async_sessionmaker[AsyncSession], config: Config, people: People
) -> None:
    await _seed(db, config, people)
    async with db() as session:
        exported = await export_reflections(session, config, NOV, "docx")
        english = await export_reflections(session, config, NOV, "docx", locale="en")
    document = Document(io.BytesIO(exported.content))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "测试区局学习心得汇编（2026-11）" in text
    assert "共 3 人提交学习心得 3 篇" in text
    assert "李明（办公室）2026-11-03 10:00" in text
    assert "关联：宪法学习材料" in text
    assert TEXT_LI in text and "保密工作人人有责" in text
    assert "\x07" not in text
    table = document.tables[0]
    assert [c.text for c in table.rows[0].cells] == ["部门", "学习心得", "提交人数"]
    en_text = "\n".join(p.text for p in Document(io.BytesIO(english.content)).paragraphs)
    assert "3 reflections by 3 members" in en_text


async def test_an_empty_period_still_gives_valid_files(
    db: async_sessionmaker[AsyncSession], config: Config, people: People
) -> None:
    period = custom_period(dt.date(2025, 1, 1), dt.date(2025, 1, 31))
    async with db() as session:
        xlsx = await export_reflections(session, config, period, "xlsx")
        docx = await export_reflections(session, config, period, "docx")
        with pytest.raises(ValueError):
            await export_reflections(session, config, period, "pdf")
    assert xlsx.count == docx.count == 0
    assert (
        list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))[1:] == []
    )
    assert Document(io.BytesIO(docx.content)).paragraphs
    assert export_filename(period, "xlsx") == "reflections-2025-01-01..2025-01-31.xlsx"
    season = parse_period(
        "season",
        dt.date(2026, 11, 26),
        seasons=[("秋季赛", dt.date(2026, 9, 1), dt.date(2026, 12, 31))],
    )
    assert export_filename(season, "docx") == "reflections-season_2026-09-01.docx"


# --- the CLI -----------------------------------------------------------------------------------


def _cli(tmp_path: Path, config: Config, *args: str) -> tuple[int, str]:
    config_path = tmp_path / "studybot.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {"database": {"url": config.database.url}, "organization": config.organization},
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["--config", str(config_path), *args])
    return result.exit_code, result.output


async def test_cli_notes_export(
    db: async_sessionmaker[AsyncSession], config: Config, people: People, tmp_path: Path
) -> None:
    await _seed(db, config, people)
    out = tmp_path / "心得.xlsx"
    code, output = await asyncio.to_thread(
        _cli, tmp_path, config, "notes", "export", "--period", "2026-11", "--out", str(out)
    )
    assert code == 0, output
    assert "3 reflection(s)" in output
    sheet = load_workbook(out).active
    assert sheet.max_row == 4
    docx_out = tmp_path / "notes.bin"
    code, output = await asyncio.to_thread(
        _cli,
        tmp_path,
        config,
        "notes",
        "export",
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-31",
        "--format",
        "docx",
        "--out",
        str(docx_out),
    )
    assert code == 0, output
    assert "1 reflection(s)" in output
    assert TEXT_LI in "\n".join(p.text for p in Document(str(docx_out)).paragraphs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "someday", "--out", "x.xlsx"], "unknown period"),
        (["--period", "2026-13", "--out", "x.xlsx"], "no month 13"),
        (["--period", "2026-11", "--out", "x.pdf"], "--format"),
        (["--from", "2026-11-01", "--out", "x.xlsx"], "--from and --to"),
        (["--from", "2026-11-30", "--to", "2026-11-01", "--out", "x.xlsx"], "before"),
        (
            ["--period", "month", "--from", "2026-11-01", "--to", "2026-11-02", "--out", "x.xlsx"],
            "not both",
        ),
    ],
)
def test_cli_refuses_bad_arguments(
    config: Config, tmp_path: Path, args: list[str], message: str
) -> None:
    code, output = _cli(tmp_path, config, "notes", "export", *args)
    assert code == 2
    assert message in output
    assert not (tmp_path / "x.xlsx").exists()


def test_cli_reports_an_unwritable_file(config: Config, tmp_path: Path) -> None:
    code, output = _cli(
        tmp_path, config, "notes", "export", "--out", str(tmp_path / "missing" / "x.xlsx")
    )
    assert code == 1
    assert "cannot write" in output
