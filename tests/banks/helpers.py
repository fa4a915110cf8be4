"""Bank files for tests (YAML text, XLSX and CSV bytes written by the real libraries) and a
snapshot of the bank tables, to show that a refused import changed nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.banks.importer import BankError, ImportSummary, import_bank
from bot.banks.problems import Problem
from bot.config import Config
from tests import dbutil

QUIZZES = Path(__file__).resolve().parents[2] / "quizzes"
SAMPLE_BANKS = (
    "security-basics.yaml",
    "cyber-security.yaml",
    "constitution-law.yaml",
    "fire-safety.xlsx",
)
ZH_HEADER = [
    "题号",
    "题型",
    "题干",
    "选项A",
    "选项B",
    "选项C",
    "选项D",
    "答案",
    "解析",
    "难度",
    "标签",
]
EN_HEADER = [
    "id",
    "type",
    "text",
    "A",
    "B",
    "C",
    "D",
    "answer",
    "explanation",
    "difficulty",
    "tags",
]


def good_questions() -> list[dict[str, Any]]:
    """One question of each type, valid."""
    return [
        {
            "id": "q1",
            "type": "single",
            "text": "国家秘密的密级分为（ ）。",
            "options": ["绝密、机密、秘密三级", "绝密、机密两级", "核心、重要、一般三级"],
            "answer": "A",
            "explanation": "保密法第十四条。",
            "difficulty": 1,
            "tags": ["保密"],
        },
        {
            "id": "q2",
            "type": "multiple",
            "text": "下列属于敏感个人信息的有（ ）。",
            "options": ["生物识别信息", "医疗健康信息", "单位办公地址", "金融账户信息"],
            "answer": "ABD",
        },
        {"id": "q3", "type": "judge", "text": "每年11月9日是全国消防日。", "answer": True},
        {
            "id": "q4",
            "type": "blank",
            "text": "国家宪法日是每年的（ ）。",
            "answer": ["12月4日", "12月4号"],
        },
    ]


def yaml_bank(
    questions: list[dict[str, Any]] | None = None, *, bank: str = "demo", **meta: Any
) -> bytes:
    doc: dict[str, Any] = {"bank": bank, "title": "演示题库", **meta}
    doc["questions"] = good_questions() if questions is None else questions
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8")


def good_rows() -> list[list[Any]]:
    """The good questions as sheet rows under ZH_HEADER."""
    return [
        ["q1", "单选", "国家秘密的密级分为（ ）。", "绝密、机密、秘密三级", "绝密、机密两级",
         "核心、重要、一般三级", None, "A", "保密法第十四条。", 1, "保密"],
        ["q2", "多选", "下列属于敏感个人信息的有（ ）。", "生物识别信息", "医疗健康信息",
         "单位办公地址", "金融账户信息", "ABD", None, None, None],
        ["q3", "判断", "每年11月9日是全国消防日。", None, None, None, None, "对", None, None, None],
        ["q4", "填空", "国家宪法日是每年的（ ）。", None, None, None, None, "12月4日|12月4号",
         None, None, None],
    ]  # fmt: skip


def xlsx_bytes(rows: list[list[Any]], title: str = "演示题库", extra_sheets: int = 0) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    for n in range(extra_sheets):
        workbook.create_sheet(f"说明{n}").append(["列名", "说明"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: list[list[Any]], *, encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    for row in rows:
        writer.writerow(["" if c is None else c for c in row])
    return buffer.getvalue().encode(encoding)


TABLES = ("banks", "questions", "question_versions", "audit_log")


def snapshot(database_url: str) -> dict[str, list[Any]]:
    """Every row of the bank tables (and the audit log), for before/after comparisons."""
    return {
        table: [
            tuple(row) for row in dbutil.query(database_url, f"SELECT * FROM {table} ORDER BY id")
        ]
        for table in TABLES
    }


async def run_import(
    db: async_sessionmaker[AsyncSession], config: Config, name: str, content: bytes, **kwargs: Any
) -> ImportSummary:
    async with db.begin() as session:
        return await import_bank(session, config, name, content, **kwargs)


async def refused(
    db: async_sessionmaker[AsyncSession], config: Config, name: str, content: bytes
) -> list[Problem]:
    with pytest.raises(BankError) as info:
        await run_import(db, config, name, content)
    assert info.value.problems, "a refusal lists its problems"
    return info.value.problems


def rendered(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)
