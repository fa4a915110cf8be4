"""Roster import (YAML / CSV / XLSX): validate every row first, then write in one transaction."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.db.models import AuditEntry, Department, Member
from bot.members.service import new_invite_code

HEADER_ALIASES = {
    "name": "name",
    "姓名": "name",
    "department": "department",
    "dept": "department",
    "部门": "department",
    "科室": "department",
    "employee_no": "employee_no",
    "employee no": "employee_no",
    "employee no.": "employee_no",
    "工号": "employee_no",
    "编号": "employee_no",
    "username": "username",
    "telegram username": "username",
    "用户名": "username",
    "telegram_id": "telegram_id",
    "telegram id": "telegram_id",
    "telegramid": "telegram_id",
}


class RosterError(Exception):
    """A roster that cannot be imported; ``problems`` lists each with its place."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class RosterRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=50)
    department: str | None = None
    employee_no: str | None = None
    username: str | None = None
    telegram_id: int | None = None

    @field_validator("department", "employee_no", "username", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if value is None:
            return None
        value = str(value).strip()
        if value.endswith(".0") and value[:-2].isdigit():
            value = value[:-2]  # spreadsheets turn 1001 into 1001.0
        return value or None

    @field_validator("username")
    @classmethod
    def _no_at(cls, value: str | None) -> str | None:
        return value.lstrip("@") if value else value

    @field_validator("telegram_id", mode="before")
    @classmethod
    def _int_id(cls, value: Any) -> Any:
        if value is None or str(value).strip() == "":
            return None
        text = str(value).strip()
        if text.endswith(".0"):
            text = text[:-2]
        return int(text)


@dataclass
class RosterSummary:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    departments_added: list[str] = field(default_factory=list)


def _normalise_header(cell: Any) -> str | None:
    if cell is None:
        return None
    key = str(cell).strip().lower()
    return HEADER_ALIASES.get(key, HEADER_ALIASES.get(str(cell).strip()))


def _rows_from_table(table: list[list[Any]], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not table:
        raise RosterError([f"{where}: the file is empty"])
    header = table[0]
    keys = [_normalise_header(c) for c in header]
    unknown = [
        str(c) for c, k in zip(header, keys, strict=True) if c not in (None, "") and k is None
    ]
    if unknown:
        raise RosterError([f"{where} row 1: unknown column(s) {', '.join(unknown)}"])
    if "name" not in keys:
        raise RosterError([f"{where} row 1: no name column (name / 姓名)"])
    for number, row in enumerate(table[1:], start=2):
        if all(c in (None, "") for c in row):
            continue
        values = {k: v for k, v in zip(keys, row, strict=False) if k is not None}
        yield f"{where} row {number}", values


def read_roster(path: Path, content: bytes | None = None) -> list[tuple[str, dict[str, Any]]]:
    data = content if content is not None else path.read_bytes()
    suffix = path.suffix.lower()
    where = path.name
    if suffix in (".yaml", ".yml"):
        try:
            doc = yaml.safe_load(data.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise RosterError([f"{where}: not valid YAML ({exc})"]) from None
        items = doc.get("members") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise RosterError([f"{where}: expected a list under 'members'"])
        out = []
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise RosterError([f"{where} member {number}: expected a mapping"])
            mapped = {}
            for key, value in item.items():
                norm = _normalise_header(key)
                if norm is None:
                    raise RosterError([f"{where} member {number}: unknown key {key!r}"])
                mapped[norm] = value
            out.append((f"{where} member {number}", mapped))
        return out
    if suffix == ".csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError:
                raise RosterError([f"{where}: not UTF-8 or GB18030 text"]) from None
        table = [list(r) for r in csv.reader(io.StringIO(text))]
        return list(_rows_from_table(table, where))
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise RosterError(
                [f"{where}: not a readable XLSX file ({type(exc).__name__})"]
            ) from None
        sheet = workbook.worksheets[0]
        table = [list(r) for r in sheet.iter_rows(values_only=True)]
        workbook.close()
        return list(_rows_from_table(table, where))
    raise RosterError([f"{where}: unsupported file type (use .yaml, .csv or .xlsx)"])


def validate_roster(
    raw: list[tuple[str, dict[str, Any]]], config: Config
) -> tuple[list[RosterRow], list[str]]:
    problems: list[str] = []
    rows: list[RosterRow] = []
    seen_no: dict[str, str] = {}
    seen_user: dict[str, str] = {}
    seen_tid: dict[int, str] = {}
    for where, values in raw:
        try:
            row = RosterRow.model_validate(values)
        except ValidationError as exc:
            for err in exc.errors():
                field_name = ".".join(str(p) for p in err["loc"])
                problems.append(f"{where}, {field_name}: {err['msg']}")
            continue
        if config.departments and row.department and row.department not in config.departments:
            problems.append(
                f"{where}, department: {row.department!r} is not one of the configured departments"
            )
        for value, seen, label in (
            (row.employee_no, seen_no, "employee_no"),
            (row.username.lower() if row.username else None, seen_user, "username"),
            (row.telegram_id, seen_tid, "telegram_id"),
        ):
            if value is None:
                continue
            if value in seen:
                problems.append(f"{where}, {label}: {value} repeats {seen[value]}")  # type: ignore[index]
            else:
                seen[value] = where  # type: ignore[index]
        rows.append(row)
    if not rows and not problems:
        problems.append("the roster has no members")
    return rows, problems


async def import_roster(
    session: AsyncSession,
    config: Config,
    path: Path,
    *,
    content: bytes | None = None,
    deactivate_missing: bool = True,
    actor_telegram_id: int | None = None,
) -> RosterSummary:
    """Import a roster file all-or-nothing; the caller commits. Raises RosterError."""
    size = len(content) if content is not None else path.stat().st_size
    if size > config.uploads.max_bytes:
        raise RosterError(
            [f"{path.name}: {size / 1048576:.1f} MB is over the {config.uploads.max_mb:g} MB limit"]
        )
    rows, problems = validate_roster(read_roster(path, content), config)
    if problems:
        raise RosterError(problems)
    summary = RosterSummary()
    departments = {d.name: d for d in await session.scalars(select(Department))}
    for row in rows:
        if row.department and row.department not in departments:
            dept = Department(name=row.department, sort_order=len(departments))
            session.add(dept)
            departments[row.department] = dept
            summary.departments_added.append(row.department)
    await session.flush()
    members = list(await session.scalars(select(Member)))
    by_no = {m.employee_no: m for m in members if m.employee_no}
    by_tid = {m.telegram_id: m for m in members if m.telegram_id}
    by_user = {m.username.lower(): m for m in members if m.username}
    by_name: dict[tuple[str, int | None], Member] = {}
    for m in members:
        by_name.setdefault((m.name, m.department_id), m)
    touched: set[int] = set()
    for row in rows:
        dept_id = departments[row.department].id if row.department else None
        member = (
            (by_no.get(row.employee_no) if row.employee_no else None)
            or (by_tid.get(row.telegram_id) if row.telegram_id else None)
            or (by_user.get(row.username.lower()) if row.username else None)
            or by_name.get((row.name, dept_id))
        )
        if member is not None and member.id in touched:
            raise RosterError([f"two roster rows describe the same member {member.name!r}"])
        values = {
            "name": row.name,
            "department_id": dept_id,
            "employee_no": row.employee_no or (member.employee_no if member else None),
            "username": row.username or (member.username if member else None),
            "on_roster": True,
            "active": True,
        }
        if row.telegram_id and (member is None or member.telegram_id is None):
            values["telegram_id"] = row.telegram_id
        if member is None:
            member = Member(**values, invite_code=new_invite_code())
            session.add(member)
            await session.flush()
            summary.added += 1
        else:
            changed = any(getattr(member, k) != v for k, v in values.items())
            for key, value in values.items():
                setattr(member, key, value)
            if member.invite_code is None:
                member.invite_code = new_invite_code()
            summary.updated += int(changed)
            summary.unchanged += int(not changed)
        touched.add(member.id)
    if deactivate_missing:
        for m in members:
            if m.on_roster and m.active and m.id not in touched:
                m.active = False
                summary.deactivated += 1
    session.add(
        AuditEntry(
            actor_telegram_id=actor_telegram_id,
            action="roster.import",
            detail={
                "file": path.name,
                "added": summary.added,
                "updated": summary.updated,
                "deactivated": summary.deactivated,
            },
        )
    )
    await session.flush()
    return summary
