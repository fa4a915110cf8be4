"""Study plan files: validation with line and field, the sample plan, storing and reloading."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import Config
from bot.db.models import AuditEntry, PlanItem
from bot.materials.plan import (
    PlanError,
    load_configured_plan,
    parse_plan,
    read_plan_file,
    store_plan,
    upcoming_pushes,
)
from tests.conftest import make_config

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "quizzes" / "study-plan.yaml"
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def cfg(**overrides: object) -> Config:
    data: dict[str, object] = {"departments": ["办公室", "宣传科", "业务一科", "业务二科"]}
    data.update(overrides)
    return Config.model_validate(data)


def parse(text: str, config: Config | None = None, base_dir: Path = REPO / "quizzes"):
    return parse_plan(
        textwrap.dedent(text), name="plan.yaml", config=config or cfg(), base_dir=base_dir, now=NOW
    )


def problems(text: str, config: Config | None = None) -> list[str]:
    with pytest.raises(PlanError) as caught:
        parse(text, config)
    return caught.value.problems


# --- the sample ----------------------------------------------------------------------------


def test_sample_plan_is_valid_and_covers_a_month() -> None:
    plan = read_plan_file(SAMPLE, cfg(), NOW)
    assert len(plan.items) >= 25
    assert plan.warnings == []
    by_id = {item.id: item for item in plan.items}
    checklist = by_id["2026-12-31-year-end-check"]
    assert checklist.file is not None and Path(checklist.file).is_file()
    assert checklist.file.endswith("security-checklist.docx")
    assert checklist.quiz_bank == "security-basics" and checklist.quiz_questions == 5
    assert by_id["2026-12-09-document-secrecy"].audience == ["办公室"]
    pushes = upcoming_pushes(plan, dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC), 31)
    days = {p.at.astimezone(cfg().tz).date() for p in pushes}
    assert dt.date(2026, 12, 1) in days and dt.date(2026, 12, 31) in days
    weekly = [p for p in pushes if p.item.id == "weekly-theme"]
    assert all(p.at.astimezone(cfg().tz).strftime("%a %H:%M") == "Mon 09:00" for p in weekly)


def test_upcoming_pushes_are_in_time_order() -> None:
    plan = read_plan_file(SAMPLE, cfg(), NOW)
    pushes = upcoming_pushes(plan, NOW, 10)
    assert len(pushes) == 10
    assert [p.at for p in pushes] == sorted(p.at for p in pushes)
    assert pushes[0].item.id == "weekly-theme"  # Monday 2026-11-30 09:00


# --- validation ----------------------------------------------------------------------------


def test_every_problem_is_reported_with_line_and_field() -> None:
    found = problems(
        """\
        items:
          - id: a
            title: First
            body: text
            when: "61 9 * * *"
            audiance: all
          - id: a
            title: ""
            when: 2026-12-01
            points: yes
          - title: No id
            body: text
            when: "2026-13-01T08:00"
            audience: [123]
        """
    )
    assert found == [
        "plan.yaml line 5, item 'a', when: invalid cron expression '61 9 * * *': '61': the last "
        "value (61) is higher than the maximum value (59)",
        "plan.yaml line 6, item 'a', audiance: unknown field (expected one of id, title, body, "
        "url, file, when, audience, points, quiz)",
        "plan.yaml line 7, item 'a', id: duplicate id (first used at line 2)",
        "plan.yaml line 8, item 'a', title: missing or empty",
        "plan.yaml line 9, item 'a', when: 2026-12-01 has no time of day; write e.g. "
        "2026-12-01T08:30",
        "plan.yaml line 10, item 'a', points: must be a whole number such as 1",
        "plan.yaml line 11, item '#3', id: missing; every item needs a stable id such as "
        "2026-12-01-secrets",
        "plan.yaml line 13, item '#3', when: '2026-13-01T08:00' is neither a date-time "
        "(2026-12-01T08:30) nor a cron expression",
        "plan.yaml line 14, item '#3', audience: 123 is not a group chat id (group ids are "
        "negative, e.g. -1001234567890)",
    ]


@pytest.mark.parametrize(
    "item, expected",
    [
        ("title: T\n    body: b\n    when: '2026-12-01T08:30'", "line 2, item '#1', id: missing"),
        (
            "id: 'bad id'\n    title: T\n    body: b\n    when: '2026-12-01T08:30'",
            "id: use letters",
        ),
        ("id: x\n    title: T\n    when: '2026-12-01T08:30'", "body: missing; an item needs"),
        ("id: x\n    title: T\n    body: b\n    when: '0 9 * *'", "when: a cron expression has 5"),
        ("id: x\n    title: T\n    body: b", "when: missing"),
        ("id: x\n    title: T\n    body: b\n    when: '0 0 30 2 *'", "never fires"),
        ("id: x\n    title: T\n    body: b\n    url: ftp://x\n    when: '0 9 * * *'", "url: must"),
        (
            "id: x\n    title: T\n    body: b\n    file: nope.docx\n    when: '0 9 * * *'",
            "nope.docx not found",
        ),
        (
            "id: x\n    title: T\n    body: b\n    when: '0 9 * * *'\n    audience: []",
            "audience: empty",
        ),
        (
            "id: x\n    title: T\n    body: b\n    when: '0 9 * * *'\n    audience: [all, 办公室]",
            "already includes everyone",
        ),
        (
            "id: x\n    title: T\n    body: b\n    when: '0 9 * * *'\n    points: 500",
            "between 0 and 100",
        ),
        (
            "id: x\n    title: T\n    body: b\n    when: '0 9 * * *'\n    quiz: {bank: Security}",
            "quiz: bank",
        ),
        (
            "id: x\n    title: T\n    body: b\n    when: '0 9 * * *'\n    quiz: {bank: s, questions: 0}",
            "questions: a whole number",
        ),
        (
            "id: x\n    title: T\n    body: b\n    when: '0 9 * * *'\n    quiz: {bank: s, count: 3}",
            "quiz.count: unknown field",
        ),
        (
            "id: x\n    title: T\n    body: " + "长" * 4100 + "\n    when: '0 9 * * *'",
            "too long for one Telegram message",
        ),
    ],
)
def test_single_problems(item: str, expected: str) -> None:
    found = problems("items:\n  - " + item + "\n")
    assert len(found) == 1, found
    assert expected in found[0]


def test_file_level_problems() -> None:
    assert problems("") == [
        "plan.yaml: the file is empty; a study plan lists its items under items:"
    ]
    assert "not valid YAML" in problems("items: [\n")[0]
    assert problems("items: []\n") == ["plan.yaml line 1, items: the plan has no items"]
    assert "unknown key 'itmes'" in problems("itmes: []\n")[0]
    assert "not a study plan" in problems("just text\n")[0]
    assert "items must be a list" in problems("items: {a: 1}\n")[0]
    with pytest.raises(PlanError, match="not UTF-8"):
        parse_plan(b"\xff\xfe\x00", name="plan.yaml", config=cfg(), base_dir=REPO)


def test_plan_timezone_must_match_the_config() -> None:
    found = problems(
        """\
        timezone: Europe/Berlin
        items:
          - {id: a, title: T, body: b, when: "0 9 * * *"}
        """
    )
    assert found == [
        "plan.yaml line 1, timezone: the plan is written for Europe/Berlin but the bot runs "
        "in Asia/Shanghai (config `timezone`); make them the same"
    ]
    plan = parse(
        """\
        timezone: Europe/Berlin
        items:
          - {id: a, title: T, body: b, when: "2026-12-01T09:00"}
        """,
        cfg(timezone="Europe/Berlin"),
    )
    assert plan.items[0].schedule.at == dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)  # type: ignore[union-attr]


def test_bare_list_and_defaults() -> None:
    plan = parse(
        """\
        - id: a
          title: T
          url: https://example.org/a
          when: "0 9 * * mon-fri"
        """,
        cfg(points={"material": {"points": 2}}),
    )
    item = plan.items[0]
    assert item.audience == ["all"] and item.points == 2 and item.body == ""
    assert item.quiz_bank is None and item.quiz_questions is None


def test_audience_forms() -> None:
    plan = parse(
        """\
        items:
          - {id: a, title: T, body: b, when: "0 9 * * *", audience: 办公室}
          - {id: b, title: T, body: b, when: "0 9 * * *", audience: [宣传科, -1001234, "-100777", 宣传科]}
          - {id: c, title: T, body: b, when: "0 9 * * *", audience: ALL}
        """,
    )
    assert [i.audience for i in plan.items] == [["办公室"], ["宣传科", -1001234, -100777], ["all"]]


def test_warnings_do_not_block() -> None:
    plan = parse(
        """\
        items:
          - {id: a, title: T, body: b, when: "*/10 * * * *", audience: [后勤科]}
          - {id: b, title: T, body: b, when: "2020-01-01T09:00", audience: [-100555]}
        """,
        cfg(groups=[-100999]),
    )
    assert len(plan.items) == 2
    text = "\n".join(plan.warnings)
    assert "more than once an hour" in text
    assert "department '后勤科' is not in the config's departments" in text
    assert "group -100555 is not in the config's groups" in text
    assert "2020-01-01T09:00 is in the past" in text


def test_file_paths_are_relative_to_the_plan(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    plan = parse(
        """\
        items:
          - {id: a, title: T, file: docs/a.txt, when: "0 9 * * *"}
        """,
        base_dir=tmp_path,
    )
    assert plan.items[0].file == str((tmp_path / "docs" / "a.txt").resolve())
    with pytest.raises(PlanError, match=r"empty\.txt is empty"):
        parse(
            'items:\n  - {id: a, title: T, file: empty.txt, when: "0 9 * * *"}\n', base_dir=tmp_path
        )


# --- storing -------------------------------------------------------------------------------


PLAN_V1 = """\
items:
  - {id: a, title: First, body: one, when: "2026-12-01T08:30"}
  - {id: b, title: Second, body: two, when: "0 9 * * mon"}
  - {id: c, title: Third, body: three, when: "2026-12-02T08:30", audience: [办公室]}
"""

PLAN_V2 = """\
items:
  - {id: a, title: First (fixed typo), body: one, when: "2026-12-01T08:30"}
  - {id: b, title: Second, body: two, when: "0 10 * * mon"}
  - {id: d, title: Fourth, body: four, when: "2026-12-03T08:30"}
"""


async def test_store_plan_upserts_by_id_and_deactivates_missing_items(db) -> None:
    t1 = NOW
    t2 = NOW + dt.timedelta(hours=1)
    async with db.begin() as session:
        first = await store_plan(session, parse(PLAN_V1), source="cli", now=t1)
    assert (first.added, first.updated, first.unchanged, first.deactivated) == (3, 0, 0, 0)
    async with db.begin() as session:
        same = await store_plan(session, parse(PLAN_V1), source="cli", now=t2)
    assert (same.added, same.updated, same.unchanged, same.deactivated) == (0, 0, 3, 0)
    async with db.begin() as session:
        second = await store_plan(session, parse(PLAN_V2), source="upload", now=t2)
    assert (second.added, second.updated, second.unchanged, second.deactivated) == (1, 2, 0, 1)
    async with db() as session:
        rows = {r.slug: r for r in await session.scalars(select(PlanItem))}
        audits = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "plan.load"))
        )
    assert rows["a"].title == "First (fixed typo)"
    assert rows["a"].updated_at == t1  # a new title does not move the schedule
    assert rows["b"].when == "0 10 * * mon" and rows["b"].updated_at == t2
    assert rows["c"].active is False and rows["d"].active is True
    assert rows["c"].audience == ["办公室"]
    assert [a.detail["source"] for a in audits] == ["cli", "cli", "upload"]
    # bringing an item back reactivates it with a fresh schedule start
    t3 = t2 + dt.timedelta(hours=1)
    async with db.begin() as session:
        again = await store_plan(session, parse(PLAN_V1), source="cli", now=t3)
    assert again.added == 0 and again.deactivated == 1
    async with db() as session:
        c = await session.scalar(select(PlanItem).where(PlanItem.slug == "c"))
    assert c is not None and c.active and c.updated_at == t3


async def test_configured_plan_loads_once_per_content(
    db, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN_V1, encoding="utf-8")
    config = make_config(database_url, study_plan=str(path))
    async with db.begin() as session:
        loaded = await load_configured_plan(session, config, NOW)
    assert loaded is not None and loaded[1].added == 3
    # an upload replaces it ...
    async with db.begin() as session:
        await store_plan(session, parse(PLAN_V2), source="upload", now=NOW)
    # ... and a restart with the same file keeps the upload in force
    async with db.begin() as session:
        loaded = await load_configured_plan(session, config, NOW)
    assert loaded is not None and loaded[1].skipped
    async with db() as session:
        active = set(await session.scalars(select(PlanItem.slug).where(PlanItem.active.is_(True))))
    assert active == {"a", "b", "d"}
    # a changed file is loaded at the next start
    path.write_text(PLAN_V1.replace("Third", "Third revised"), encoding="utf-8")
    async with db.begin() as session:
        loaded = await load_configured_plan(session, config, NOW)
    assert loaded is not None and not loaded[1].skipped
    async with db() as session:
        active = set(await session.scalars(select(PlanItem.slug).where(PlanItem.active.is_(True))))
    assert active == {"a", "b", "c"}


async def test_configured_plan_problems(db, database_url: str, tmp_path: Path) -> None:
    config = make_config(database_url, study_plan=str(tmp_path / "missing.yaml"))
    async with db.begin() as session:
        with pytest.raises(PlanError, match="study plan not found"):
            await load_configured_plan(session, config, NOW)
    async with db.begin() as session:
        assert await load_configured_plan(session, make_config(database_url), NOW) is None
