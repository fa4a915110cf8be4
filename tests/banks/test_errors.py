"""Every kind of bad bank file: the exact message with its place, and the database unchanged.

Each case imports into a database that already holds a bank named ``demo`` (the name the bad
files use), so "unchanged" covers both "nothing new written" and "nothing existing touched".
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.banks.problems import Problem
from bot.config import Config
from bot.i18n import translator
from tests.banks.helpers import (
    ZH_HEADER,
    csv_bytes,
    good_questions,
    good_rows,
    refused,
    rendered,
    run_import,
    snapshot,
    xlsx_bytes,
    yaml_bank,
)
from tests.conftest import make_config


@pytest.fixture
async def seeded(
    db: async_sessionmaker[AsyncSession], config: Config, database_url: str
) -> dict[str, Any]:
    await run_import(db, config, "demo.yaml", yaml_bank())
    return snapshot(database_url)


# The bank ``demo`` as an admin would write it; line numbers below refer to this text.
BASE_YAML = """\
bank: demo
title: 演示题库
questions:
  - id: q1
    type: single
    text: 国家秘密的密级分为（ ）。
    options: [绝密、机密、秘密三级, 绝密、机密两级, 核心、重要、一般三级]
    answer: A
    explanation: 保密法第十四条。
    difficulty: 1
    tags: [保密]
  - id: q2
    type: multiple
    text: 下列属于敏感个人信息的有（ ）。
    options:
      - 生物识别信息
      - 医疗健康信息
      - 单位办公地址
      - 金融账户信息
    answer: ABD
  - id: q3
    type: judge
    text: 每年11月9日是全国消防日。
    answer: true
  - id: q4
    type: blank
    text: 国家宪法日是每年的（ ）。
    answer: [12月4日, 12月4号]
"""


def edited(*pairs: str) -> bytes:
    """BASE_YAML with each (old, new) pair replaced; every old text occurs exactly once."""
    text = BASE_YAML
    for old, new in zip(pairs[::2], pairs[1::2], strict=True):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text.encode("utf-8")


def sheet(*rows: list[Any], header: list[str] = ZH_HEADER) -> bytes:
    return xlsx_bytes([["bank", "demo"], header, *rows])


def row(index: int, **changes: Any) -> list[Any]:
    values = good_rows()[index]
    for key, value in changes.items():
        values[ZH_HEADER.index(key)] = value
    return values


# (file name, content, exact rendered problem lines)
CASES: list[tuple[str, str, bytes, list[str]]] = [
    (
        "empty-stem-yaml",
        "demo.yaml",
        edited("text: 国家秘密的密级分为（ ）。", "text: '  '"),
        [
            "demo.yaml, line 6, question q1, field text: the question text (stem) is missing or empty"
        ],
    ),
    (
        "missing-stem-yaml",
        "demo.yaml",
        edited("    text: 每年11月9日是全国消防日。\n", ""),
        [
            "demo.yaml, line 21, question q3, field text: the question text (stem) is missing or empty"
        ],
    ),
    (
        "empty-stem-sheet",
        "demo.xlsx",
        sheet(row(0, 题干=None)),
        ["demo.xlsx, row 3, question q1, field 题干: the question text (stem) is missing or empty"],
    ),
    (
        "letter-without-option",
        "demo.yaml",
        edited("answer: A\n", "answer: D\n"),
        [
            "demo.yaml, line 8, question q1, field answer: answer D has no option; the options are A–C"
        ],
    ),
    (
        "letter-without-option-sheet",
        "demo.xlsx",
        sheet(row(1, 答案="ABE")),
        ["demo.xlsx, row 3, question q2, field 答案: answer E has no option; the options are A–D"],
    ),
    (
        "single-with-several-answers",
        "demo.yaml",
        edited("answer: A\n", "answer: [A, B]\n"),
        [
            "demo.yaml, line 8, question q1, field answer: a single-choice question has exactly "
            'one answer, got "AB"; use type multiple for several'
        ],
    ),
    (
        "duplicate-id-yaml",
        "demo.yaml",
        edited("id: q4", "id: q2"),
        [
            "demo.yaml, line 25, question q2, field id: duplicate question id q2: line 12 already uses it"
        ],
    ),
    (
        "duplicate-id-sheet",
        "demo.xlsx",
        sheet(row(0), row(2, 题号="q1")),
        [
            "demo.xlsx, row 4, question q1, field 题号: duplicate question id q1: row 3 already uses it"
        ],
    ),
    (
        "unknown-type",
        "demo.yaml",
        edited("type: judge", "type: essay"),
        [
            'demo.yaml, line 22, question q3, field type: unknown question type "essay"; use '
            "single, multiple, judge or blank (单选, 多选, 判断, 填空)"
        ],
    ),
    (
        "unknown-type-sheet",
        "demo.xlsx",
        sheet(row(2, 题型="问答")),
        [
            'demo.xlsx, row 3, question q3, field 题型: unknown question type "问答"; use '
            "single, multiple, judge or blank (单选, 多选, 判断, 填空)"
        ],
    ),
    (
        "one-option",
        "demo.yaml",
        edited("[绝密、机密、秘密三级, 绝密、机密两级, 核心、重要、一般三级]", "[唯一]"),
        [
            "demo.yaml, line 7, question q1, field options: a choice question needs 2 to 10 "
            "options, got 1",
        ],
    ),
    (
        "eleven-options",
        "demo.yaml",
        edited("      - 金融账户信息\n", "".join(f"      - 选项{n}\n" for n in range(8))),
        [
            "demo.yaml, line 15, question q2, field options: a choice question needs 2 to 10 "
            "options, got 11"
        ],
    ),
    (
        "option-column-k",
        "demo.xlsx",
        sheet(row(0), header=[*ZH_HEADER, "选项K"]),
        [
            "demo.xlsx, row 2, field 选项K: column 选项K: at most 10 options (A–J) are allowed; "
            "remove the column"
        ],
    ),
    (
        "judge-with-options",
        "demo.yaml",
        edited("    answer: true", "    options: [对, 错]\n    answer: true"),
        [
            "demo.yaml, line 24, question q3, field options: a true/false (judge) question takes "
            "no options; remove them or change the type"
        ],
    ),
    (
        "blank-without-answer",
        "demo.yaml",
        edited("answer: [12月4日, 12月4号]", "answer: []"),
        [
            "demo.yaml, line 28, question q4, field answer: a fill-in-the-blank question needs at "
            "least one accepted answer"
        ],
    ),
    (
        "blank-without-answer-sheet",
        "demo.xlsx",
        sheet(row(3, 答案=" | ")),
        [
            "demo.xlsx, row 3, question q4, field 答案: a fill-in-the-blank question needs at "
            "least one accepted answer"
        ],
    ),
    (
        "choice-without-answer",
        "demo.yaml",
        edited("    answer: ABD\n", ""),
        ["demo.yaml, line 12, question q2, field answer: the answer is missing"],
    ),
    (
        "bad-judge-answer",
        "demo.xlsx",
        sheet(row(2, 答案="也许")),
        [
            "demo.xlsx, row 3, question q3, field 答案: a true/false answer must be true or false "
            '(对/错, 正确/错误, √/×), got "也许"'
        ],
    ),
    (
        "bad-difficulty",
        "demo.yaml",
        edited("difficulty: 1", "difficulty: 5"),
        [
            'demo.yaml, line 10, question q1, field difficulty: difficulty must be 1, 2 or 3 (易/中/难), got "5"'
        ],
    ),
    (
        "bad-difficulty-sheet",
        "demo.xlsx",
        sheet(row(0, 难度="很难")),
        [
            'demo.xlsx, row 3, question q1, field 难度: difficulty must be 1, 2 or 3 (易/中/难), got "很难"'
        ],
    ),
    (
        "unknown-header",
        "demo.xlsx",
        sheet(row(0), header=[*ZH_HEADER, "备注"]),
        [
            "demo.xlsx, row 2, field 备注: unknown column 备注 (column L); allowed: id, type, "
            "text, A…J, answer, explanation, difficulty, tags (题号, 题型, 题干, 选项A…选项J, 答案, "
            "解析, 难度, 标签)"
        ],
    ),
    (
        "missing-column",
        "demo.csv",
        csv_bytes([["bank", "demo"], [h for h in ZH_HEADER if h != "答案"], row(0)[:7]]),
        ["demo.csv, row 2: no answer (答案) column"],
    ),
    (
        "unknown-yaml-key",
        "demo.yaml",
        edited("    tags: [保密]", "    tags: [保密]\n    hint: 提示"),
        [
            'demo.yaml, line 12, question q1, field hint: unknown key "hint"; allowed: id, type, '
            "text, options, answer, explanation, difficulty, tags"
        ],
    ),
    (
        "roster-yaml-is-not-a-bank",
        "roster.yaml",
        b"members:\n  - name: \xe5\xbc\xa0\xe4\xb8\x89\n",
        [
            "roster.yaml: not a question bank: expected a mapping with bank, title and a list of questions"
        ],
    ),
    (
        "roster-sheet-is-not-a-bank",
        "roster.xlsx",
        xlsx_bytes([["姓名", "部门", "工号"], ["张三", "办公室", "1001"]]),
        [
            "roster.xlsx, row 1: not a question bank: no header row with the columns id, type, "
            "text, answer (题号, 题型, 题干, 答案)"
        ],
    ),
    (
        "png-named-xlsx",
        "demo.xlsx",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        ["demo.xlsx: not a readable XLSX workbook (BadZipFile)"],
    ),
    (
        "old-xls",
        "demo.xls",
        b"\xd0\xcf\x11\xe0",
        ["demo.xls: old Excel format (.xls); save the workbook as .xlsx"],
    ),
    (
        "plain-text-is-not-a-bank",
        "notes.yaml",
        "今天学习了保密法。".encode(),
        [
            "notes.yaml: not a question bank: expected a mapping with bank, title and a list of questions"
        ],
    ),
    (
        "unsafe-yaml",
        "demo.yaml",
        b"bank: demo\nquestions:\n  - !!python/object/apply:os.system ['echo owned']\n",
        [
            "demo.yaml, line 3: not safe to load: the tag !!python/object/apply:os.system is not "
            "allowed (only plain YAML values: text, numbers, lists, mappings, dates)"
        ],
    ),
    (
        "yaml-syntax",
        "demo.yaml",
        b"bank: demo\nquestions:\n  - id: q1\n    text: [unclosed\n",
        ["demo.yaml, line 5: not valid YAML: did not find expected ',' or ']'"],
    ),
    (
        "yaml-boolean-option",
        "demo.yaml",
        edited("[绝密、机密、秘密三级, 绝密、机密两级, 核心、重要、一般三级]", "[甲, yes, 丙]"),
        [
            'demo.yaml, line 7, question q1, field options B: YAML read "true" as true/false; '
            "put the text in quotes"
        ],
    ),
    (
        "bad-bank-id",
        "demo.yaml",
        edited("bank: demo", "bank: Demo Bank"),
        [
            'demo.yaml, line 1, field bank: bank id "Demo Bank" is not valid: use lowercase '
            "letters a–z, digits and hyphens (at most 64 characters)"
        ],
    ),
    (
        "no-questions",
        "demo.yaml",
        yaml_bank([]),
        ["demo.yaml: the bank has no questions"],
    ),
    (
        "campaign",
        "demo.yaml",
        edited(
            "questions:\n",
            "campaign:\n  title: 专项\n  from: 2026-11-30\n  to: 2026-11-01\n  questions: 9\n"
            "questions:\n",
        ),
        [
            "demo.yaml, line 6, field campaign.to: the campaign ends (2026-11-01) before it "
            "starts (2026-11-30)",
            "demo.yaml, line 7, field campaign.questions: the campaign asks 9 questions per "
            "attempt but the bank has only 4",
        ],
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_refused_with_the_exact_problem(
    db: async_sessionmaker[AsyncSession],
    config: Config,
    database_url: str,
    seeded: dict[str, Any],
    name: str,
    content: bytes,
    expected: list[str],
) -> None:
    problems = await refused(db, config, name, content)
    assert rendered(problems).splitlines() == expected
    assert snapshot(database_url) == seeded


async def test_every_problem_is_reported_at_once(
    db: async_sessionmaker[AsyncSession], config: Config, database_url: str, seeded: dict[str, Any]
) -> None:
    rows = [
        row(0, 题干=None, 答案="E"),
        row(1, 题型="多选题", 难度=9),
        row(2, 选项A="对"),
        row(3, 题号="q1", 答案=None),
        ["q5", "单选", "两个答案", "甲", "乙", None, None, "AB", None, None, None],
    ]
    problems = await refused(db, config, "demo.xlsx", sheet(*rows, header=[*ZH_HEADER, "备注"]))
    places = [(p.row, p.qid, p.field) for p in problems]
    assert places == [
        (2, None, "备注"),
        (3, "q1", "题干"),
        (3, "q1", "答案"),
        (4, "q2", "难度"),
        (5, "q3", "选项"),
        (6, "q1", "答案"),
        (6, "q1", "题号"),
        (7, "q5", "答案"),
    ]
    assert snapshot(database_url) == seeded


async def test_file_over_the_size_limit(
    db: async_sessionmaker[AsyncSession], database_url: str, seeded: dict[str, Any]
) -> None:
    small = make_config(database_url, uploads={"max_mb": 0.001})  # 1048 bytes
    content = yaml_bank([{**good_questions()[0], "explanation": "很长的解析。" * 200}])
    problems = await refused(db, small, "demo.yaml", content)
    assert (
        rendered(problems)
        == f"demo.yaml: the file is {len(content) / 1048576:.1f} MB, over the 0.001 MB limit"
    )
    assert snapshot(database_url) == seeded


async def test_the_default_limit_is_five_megabytes(
    db: async_sessionmaker[AsyncSession], config: Config, database_url: str, seeded: dict[str, Any]
) -> None:
    content = yaml_bank() + b"#" * (5 * 1048576)
    problems = await refused(db, config, "demo.yaml", content)
    assert rendered(problems) == "demo.yaml: the file is 5.0 MB, over the 5 MB limit"
    assert snapshot(database_url) == seeded


def test_problems_read_in_chinese() -> None:
    problem = Problem(
        "题库.xlsx", "answer {letter} has no option; the options are {letters}",
        {"letter": "E", "letters": "A–D"}, row=5, qid="q3", field="答案",
    )  # fmt: skip
    assert problem.render(translator("zh_CN")) == (
        "题库.xlsx，第 5 行，题目 q3，字段 答案：答案 E 没有对应的选项；选项只有 A–D"
    )
