"""Roster import: row-numbered errors, all-or-nothing, updates by employee number."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from bot.db.models import Department, Member
from bot.members.roster import RosterError, import_roster

REPO = Path(__file__).resolve().parents[2]


async def count_members(db) -> int:
    async with db() as session:
        return await session.scalar(select(func.count()).select_from(Member))


async def test_sample_rosters_import(db, config) -> None:
    for name in ("roster.yaml", "roster.csv"):
        async with db.begin() as session:
            summary = await import_roster(
                session, config.model_copy(update={"departments": []}), REPO / "quizzes" / name
            )
        assert summary.added + summary.updated + summary.unchanged == 30
    assert await count_members(db) == 30
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Department)) == 5


async def test_csv_errors_are_numbered_and_nothing_is_written(db, config) -> None:
    content = "name,department,employee_no\n张三,办公室,E1\n,办公室,E2\n李四,不存在科,E3\n王五,宣传科,E1\n".encode()
    with pytest.raises(RosterError) as info:
        async with db.begin() as session:
            await import_roster(session, config, Path("r.csv"), content=content)
    text = "\n".join(info.value.problems)
    assert "r.csv row 3, name" in text
    assert "r.csv row 4, department" in text
    assert "r.csv row 5, employee_no: E1 repeats r.csv row 2" in text
    assert await count_members(db) == 0


async def test_unknown_column_and_wrong_type(db, config) -> None:
    with pytest.raises(RosterError, match="unknown column"):
        async with db.begin() as session:
            await import_roster(
                session, config, Path("r.csv"), content="name,salary\n张三,1\n".encode()
            )
    with pytest.raises(RosterError, match="unsupported file type"):
        async with db.begin() as session:
            await import_roster(session, config, Path("r.txt"), content=b"x")
    with pytest.raises(RosterError, match="not a readable XLSX"):
        async with db.begin() as session:
            await import_roster(session, config, Path("r.xlsx"), content=b"not a zip")
    with pytest.raises(RosterError, match="over the"):
        async with db.begin() as session:
            await import_roster(
                session, config, Path("r.csv"), content=b"name\n" + b"x\n" * 3_000_000
            )


async def test_xlsx_with_chinese_headers_and_reimport_updates(db, config) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "部门", "工号", "用户名"])
    ws.append(["张三", "办公室", 1001, "@zhang"])
    ws.append(["李四", "宣传科", 1002, None])
    buf = io.BytesIO()
    wb.save(buf)
    async with db.begin() as session:
        first = await import_roster(session, config, Path("花名册.xlsx"), content=buf.getvalue())
    assert (first.added, first.updated) == (2, 0)
    wb2 = Workbook()
    ws2 = wb2.active
    ws2.append(["姓名", "部门", "工号"])
    ws2.append(["张三", "业务一科", 1001])
    buf2 = io.BytesIO()
    wb2.save(buf2)
    async with db.begin() as session:
        second = await import_roster(session, config, Path("花名册.xlsx"), content=buf2.getvalue())
    assert (second.added, second.updated, second.deactivated) == (0, 1, 1)
    async with db() as session:
        zhang = await session.scalar(select(Member).where(Member.employee_no == "1001"))
        lisi = await session.scalar(select(Member).where(Member.employee_no == "1002"))
        dept = await session.get(Department, zhang.department_id)
    assert dept.name == "业务一科" and zhang.username == "zhang" and zhang.invite_code
    assert lisi.active is False
