"""Export and the ``studybot bank`` commands: round trips through YAML and XLSX are
"unchanged", a refused file exits 1 with every problem, the others still import."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from bot.banks.catalog import load_bank
from bot.banks.export import ExportError, export_bank
from bot.banks.formats import parse_bank
from bot.cli import main
from bot.db.engine import create_engine, create_session_factory
from tests.banks.helpers import (
    QUIZZES,
    SAMPLE_BANKS,
    ZH_HEADER,
    good_questions,
    good_rows,
    snapshot,
    xlsx_bytes,
    yaml_bank,
)

Invoke = Callable[..., Result]


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Invoke:
    config = tmp_path / "studybot.yaml"
    config.write_text(yaml.safe_dump({"database": {"url": database_url}}), encoding="utf-8")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)

    return invoke


def stored(database_url: str, slug: str) -> Any:
    async def load() -> Any:
        engine = create_engine(database_url)
        try:
            async with create_session_factory(engine)() as session:
                return await load_bank(session, slug)
        finally:
            await engine.dispose()

    return asyncio.run(load())


def test_import_list_show_export_round_trip(cli: Invoke, tmp_path: Path, database_url: str) -> None:
    files = [str(QUIZZES / name) for name in SAMPLE_BANKS]
    result = cli("bank", "import", *files)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "security-basics.yaml: bank security-basics (保密常识): 15 added, 0 updated, 0 retired, 0 unchanged. New bank.",
        "cyber-security.yaml: bank cyber-security (网络安全常识): 15 added, 0 updated, 0 retired, 0 unchanged. New bank.",
        "constitution-law.yaml: bank constitution-law (宪法与法律常识): 12 added, 0 updated, 0 retired, 0 unchanged. New bank.",
        "fire-safety.xlsx: bank fire-safety (消防安全): 12 added, 0 updated, 0 retired, 0 unchanged. New bank.",
    ]

    listing = cli("bank", "list").output.splitlines()
    assert listing[0].split("\t")[:3] == ["bank", "title", "questions"]
    assert (
        "cyber-security\t网络安全常识\t15\t5\t3\t4\t3\t0\t保密与网络安全宣传月专项答题 2026-11-01..2026-12-31"
        in listing
    )

    shown = cli("bank", "show", "fire-safety").output
    assert "fire-safety: 消防安全" in shown
    assert "q005 [blank] (v1) 手提式灭火器的使用方法可以概括为四个字：提、拔、握、（ ）。" in shown
    assert "    answer: 压 | 压下" in shown

    before = snapshot(database_url)
    for slug in ("security-basics", "cyber-security", "constitution-law", "fire-safety"):
        for fmt in ("yaml", "xlsx"):
            out = tmp_path / f"{slug}-export.{fmt}"
            result = cli("bank", "export", slug, "--format", fmt, "--out", str(out))
            assert result.exit_code == 0 and out.exists(), result.output
            again = cli("bank", "import", str(out))
            assert again.exit_code == 0
            assert "is unchanged" in again.output, again.output
    assert snapshot(database_url) == before


def test_export_writes_the_canonical_yaml(cli: Invoke, tmp_path: Path) -> None:
    source = tmp_path / "demo.yaml"
    source.write_bytes(yaml_bank(tags=["演示"]))
    assert cli("bank", "import", str(source)).exit_code == 0
    text = cli("bank", "export", "demo", "--out", "-").output
    assert text.startswith(
        "# Question bank demo, exported by studybot.\nbank: demo\ntitle: 演示题库\n"
    )
    assert "tags: [演示]\nquestions:\n  - id: q1\n    type: single\n" in text
    assert "\n\n  - id: q2\n    type: multiple\n" in text
    assert "    answer: ABD\n" in text and "    answer: true\n" in text
    assert "    answer: [12月4日, 12月4号]\n" in text
    exported = parse_bank("demo.yaml", text.encode())
    assert [q.content_hash for q in exported.questions] == [
        q.content_hash for q in parse_bank("demo.yaml", yaml_bank()).questions
    ]


def test_xlsx_export_keeps_texts_that_look_like_formulas(
    cli: Invoke, tmp_path: Path, database_url: str
) -> None:
    questions = good_questions()
    questions[0]["text"] = "=1+1 的结果是（ ）"
    questions[0]["options"] = ["=2", "-3", "+4"]
    source = tmp_path / "demo.yaml"
    source.write_bytes(yaml_bank(questions))
    assert cli("bank", "import", str(source)).exit_code == 0
    out = tmp_path / "demo-out.xlsx"
    assert cli("bank", "export", "demo", "--format", "xlsx", "--out", str(out)).exit_code == 0
    bank = parse_bank("demo-out.xlsx", out.read_bytes())
    assert bank.questions[0].text == "=1+1 的结果是（ ）"
    assert bank.questions[0].options == ["=2", "-3", "+4"]
    assert "is unchanged" in cli("bank", "import", str(out)).output


def test_xlsx_export_refuses_what_a_sheet_cannot_hold(database_url: str) -> None:
    info_questions = asyncio.run(_import_and_load(database_url))
    assert info_questions is not None
    info, questions = info_questions
    with pytest.raises(ExportError, match=r"contains '\|'"):
        export_bank(info, questions, "xlsx")
    name, content = export_bank(info, questions, "yaml")
    assert name == "pipes.yaml"
    assert parse_bank(name, content).questions[0].answer == ["a|b", "c"]


async def _import_and_load(database_url: str) -> Any:
    from bot.banks.importer import import_bank
    from tests.conftest import make_config

    content = yaml_bank(
        [{"id": "b", "type": "blank", "text": "x", "answer": ["a|b", "c"]}], bank="pipes"
    )
    engine = create_engine(database_url)
    try:
        db = create_session_factory(engine)
        async with db.begin() as session:
            await import_bank(session, make_config(database_url), "pipes.yaml", content)
        async with db() as session:
            return await load_bank(session, "pipes")
    finally:
        await engine.dispose()


def test_a_refused_file_exits_1_and_the_others_import(
    cli: Invoke, tmp_path: Path, database_url: str
) -> None:
    good = tmp_path / "demo.yaml"
    good.write_bytes(yaml_bank())
    rows = good_rows()
    rows[0][ZH_HEADER.index("答案")] = "E"
    rows[2][ZH_HEADER.index("题型")] = "问答"
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(xlsx_bytes([ZH_HEADER, *rows]))
    result = cli("bank", "import", str(bad), str(good))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "demo.yaml: bank demo (演示题库): 4 added, 0 updated, 0 retired, 0 unchanged. New bank."
    ]
    assert result.stderr.splitlines() == [
        "error: broken.xlsx, row 2, question q1, field 答案: answer E has no option; the options are A–C",
        'error: broken.xlsx, row 4, question q3, field 题型: unknown question type "问答"; use '
        "single, multiple, judge or blank (单选, 多选, 判断, 填空)",
        "broken.xlsx: not imported (2 problem(s)); nothing changed",
    ]
    assert stored(database_url, "broken") is None
    assert stored(database_url, "demo") is not None


def test_check_validates_without_writing(cli: Invoke, tmp_path: Path, database_url: str) -> None:
    before = snapshot(database_url)
    result = cli("bank", "import", "--check", str(QUIZZES / "fire-safety.xlsx"))
    assert result.exit_code == 0
    assert (
        result.output
        == "fire-safety.xlsx: bank fire-safety (消防安全) is valid, 12 questions; nothing written (--check)\n"
    )
    assert snapshot(database_url) == before


def test_unknown_bank_and_empty_list(cli: Invoke) -> None:
    assert (
        cli("bank", "list").output == "no banks yet; import one with: studybot bank import FILE\n"
    )
    for command in (("show", "nope"), ("export", "nope")):
        result = cli("bank", *command)
        assert result.exit_code == 1
        assert result.stderr == "studybot: no bank 'nope'; see: studybot bank list\n"


def test_oversized_file_is_refused_before_reading(
    cli: Invoke, tmp_path: Path, database_url: str
) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(yaml_bank() + b"#" * (6 * 1048576))
    result = cli("bank", "import", str(big))
    assert result.exit_code == 1
    assert "error: big.yaml: the file is 6.0 MB, over the 5 MB limit" in result.stderr
    assert stored(database_url, "demo") is None
