"""``studybot plan check | load | status``."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from bot.cli import main
from tests import dbutil

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "quizzes" / "study-plan.yaml"


def config_file(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "studybot.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "database": {"url": database_url},
                "departments": ["办公室", "宣传科", "业务一科", "业务二科"],
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    return path


def run(config: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


def test_check_prints_the_next_pushes_in_local_time(tmp_path: Path, database_url: str) -> None:
    config = config_file(tmp_path, database_url)
    result = run(config, "plan", "check", str(SAMPLE), "--from", "2026-11-30T00:00")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "study-plan.yaml: 27 items, OK"
    assert lines[1] == "next 10 pushes (Asia/Shanghai):"
    assert len(lines) == 12
    assert lines[2].split()[:4] == ["2026-11-30", "09:00", "Mon", "weekly-theme"]
    assert "2026-12-01 08:30 Tue  2026-12-01-secret-definition" in lines[3]
    assert "[quiz security-basics×3]" in lines[3]
    assert any("→ 办公室" in line for line in lines)


def test_check_reports_problems_and_exits_1(tmp_path: Path, database_url: str) -> None:
    config = config_file(tmp_path, database_url)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "items:\n"
        "  - id: a\n"
        "    title: T\n"
        "    body: b\n"
        '    when: "0 25 * * *"\n'
        "  - id: a\n"
        "    title: T\n"
        "    body: b\n"
        '    when: "2026-12-01T08:30"\n'
        "    file: missing.docx\n",
        encoding="utf-8",
    )
    result = run(config, "plan", "check", str(bad))
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert errors[0].startswith("error: bad.yaml line 5, item 'a', when: invalid cron expression")
    assert errors[1] == "error: bad.yaml line 6, item 'a', id: duplicate id (first used at line 2)"
    assert errors[2].startswith("error: bad.yaml line 10, item 'a', file: missing.docx not found")
    assert errors[-1] == "studybot: bad.yaml: 3 problem(s); the plan cannot be used"
    assert run(config, "plan", "check", str(tmp_path / "nope.yaml")).exit_code == 2
    assert run(config, "plan", "check", str(SAMPLE), "--from", "someday").exit_code == 2


def test_load_and_status(tmp_path: Path, database_url: str) -> None:
    config = config_file(tmp_path, database_url)
    result = run(config, "plan", "load", str(SAMPLE))
    assert result.exit_code == 0, result.output
    assert "study-plan.yaml: 27 items loaded (27 new, 0 changed, 0 unchanged, 0 removed)" in (
        result.stdout
    )
    again = run(config, "plan", "load", str(SAMPLE))
    assert "(0 new, 0 changed, 27 unchanged, 0 removed)" in again.stdout
    assert dbutil.scalar(database_url, "SELECT count(*) FROM plan_items") == 27
    status = run(config, "plan", "status")
    assert status.exit_code == 0
    weekly = next(line for line in status.stdout.splitlines() if line.startswith("weekly-theme"))
    assert "\tnext " in weekly and "Mon" in weekly and "\tsent 0\t" in weekly
    refused = tmp_path / "refused.yaml"
    refused.write_text("items: []\n", encoding="utf-8")
    result = run(config, "plan", "load", str(refused))
    assert result.exit_code == 1 and "nothing changed" in result.stderr
    assert (
        dbutil.scalar(database_url, "SELECT count(*) FROM plan_items WHERE active = :y", y=True)
        == 27
    )
