"""Reading banks: the sample files, every accepted answer form, sheets with English or Chinese
headers, bank id and title from rows or from the file name, CSV encodings."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from bot.banks.formats import parse_bank, slug_from_filename
from bot.banks.problems import BankError
from tests.banks.helpers import (
    EN_HEADER,
    QUIZZES,
    SAMPLE_BANKS,
    ZH_HEADER,
    csv_bytes,
    good_rows,
    xlsx_bytes,
    yaml_bank,
)


def test_the_sample_banks_read_cleanly() -> None:
    types: Counter[str] = Counter()
    for name in SAMPLE_BANKS:
        bank = parse_bank(name, (QUIZZES / name).read_bytes())
        types.update(q.type for q in bank.questions)
        assert bank.slug == name.rsplit(".", 1)[0]
        assert all(q.explanation for q in bank.questions), name
    assert sum(types.values()) == 54
    assert types == {"single": 18, "multiple": 11, "judge": 14, "blank": 11}


def test_sample_details() -> None:
    cyber = parse_bank("cyber-security.yaml", (QUIZZES / "cyber-security.yaml").read_bytes())
    assert cyber.title == "网络安全常识"
    assert cyber.campaign is not None
    assert (cyber.campaign.start, cyber.campaign.end) == (
        dt.date(2026, 11, 1),
        dt.date(2026, 12, 31),
    )
    assert cyber.campaign.questions == 10
    fire = parse_bank("fire-safety.xlsx", (QUIZZES / "fire-safety.xlsx").read_bytes())
    assert (fire.slug, fire.title) == ("fire-safety", "消防安全")  # file name, sheet name
    by_id = {q.qid: q for q in fire.questions}
    assert by_id["q002"].answer == [True]
    assert by_id["q005"].answer == ["压", "压下"]
    assert by_id["q003"].answer == ["A", "B", "C"]
    assert by_id["q001"].options == ["119", "110", "120", "122"]  # numbers as written


def test_the_template_imports_its_single_example() -> None:
    template = parse_bank("bank-template.xlsx", (QUIZZES / "bank-template.xlsx").read_bytes())
    assert (template.slug, template.title) == ("bank-template", "示例题库")
    assert [q.qid for q in template.questions] == ["q001"]  # the 说明 sheet is not read


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("B", ["B"]), ("b", ["B"]), ("Ｂ", ["B"]), (["B"], ["B"])],
)
def test_single_answer_forms(answer: object, expected: list[str]) -> None:
    bank = parse_bank("x.yaml", yaml_bank([_choice("single", answer)]))
    assert bank.questions[0].answer == expected


@pytest.mark.parametrize(
    "answer",
    ["ACD", "A,C,D", "A, C, D", "A、C、D", "DCA", "a c d", ["A", "C", "D"], ["D", "A", "C"]],
)
def test_multiple_answer_forms(answer: object) -> None:
    bank = parse_bank("x.yaml", yaml_bank([_choice("multiple", answer)]))
    assert bank.questions[0].answer == ["A", "C", "D"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("FALSE", False),
        ("对", True),
        ("错", False),
        ("正确", True),
        ("错误", False),
        ("√", True),
        ("×", False),
    ],
)
def test_judge_answer_forms(answer: object, expected: bool) -> None:
    question = {"id": "j", "type": "judge", "text": "判断。", "answer": answer}
    assert parse_bank("x.yaml", yaml_bank([question])).questions[0].answer == [expected]


def test_blank_answers_string_or_list() -> None:
    questions = [
        {"id": "b1", "type": "blank", "text": "甲", "answer": "压"},
        {"id": "b2", "type": "blank", "text": "乙", "answer": ["20", 20, "二十", "二十"]},
        {"id": "b3", "type": "blank", "text": "丙", "answer": 1982},
    ]
    bank = parse_bank("x.yaml", yaml_bank(questions))
    assert [q.answer for q in bank.questions] == [["压"], ["20", "二十"], ["1982"]]


def test_type_aliases_and_tags() -> None:
    questions = [
        {**_choice("单选", "A"), "id": "a", "tags": "保密，密级、 期限,期限"},
        {**_choice("多选题", "AB"), "id": "b", "tags": ["网络", "安全"]},
        {"id": "c", "type": "判断", "text": "x", "answer": "对"},
        {"id": "d", "type": "Blank", "text": "x", "answer": "y"},
    ]
    bank = parse_bank("x.yaml", yaml_bank(questions))
    assert [q.type for q in bank.questions] == ["single", "multiple", "judge", "blank"]
    assert bank.questions[0].tags == ["保密", "密级", "期限"]
    assert bank.questions[1].tags == ["网络", "安全"]


@pytest.mark.parametrize("header", [ZH_HEADER, EN_HEADER], ids=["chinese", "english"])
def test_sheet_headers_in_either_language(header: list[str]) -> None:
    bank = parse_bank("my-bank.xlsx", xlsx_bytes([header, *good_rows()], title="我的题库"))
    assert (bank.slug, bank.title) == ("my-bank", "我的题库")
    assert [q.type for q in bank.questions] == ["single", "multiple", "judge", "blank"]
    assert bank.questions[0].options == [
        "绝密、机密、秘密三级",
        "绝密、机密两级",
        "核心、重要、一般三级",
    ]
    assert bank.questions[0].difficulty == 1
    assert bank.questions[3].answer == ["12月4日", "12月4号"]


def test_sheet_bank_and_title_rows_override_the_file_name() -> None:
    rows = [["bank", "fire-2026"], ["title", "消防安全 2026"], ["tags", "消防，安全"], ZH_HEADER]
    bank = parse_bank("随便什么名字.xlsx", xlsx_bytes([*rows, *good_rows()], title="Sheet1"))
    assert (bank.slug, bank.title, bank.tags) == ("fire-2026", "消防安全 2026", ["消防", "安全"])


def test_sheet_campaign_rows() -> None:
    rows = [
        ["bank", "special"],
        ["campaign", "宣传月专项答题"],
        ["campaign_from", "2026-11-01"],
        ["campaign_to", dt.datetime(2026, 11, 30)],
        ["campaign_questions", 3],
        ZH_HEADER,
    ]
    bank = parse_bank("x.xlsx", xlsx_bytes([*rows, *good_rows()]))
    assert bank.campaign is not None
    assert (bank.campaign.title, bank.campaign.end, bank.campaign.questions) == (
        "宣传月专项答题",
        dt.date(2026, 11, 30),
        3,
    )


def test_sheet_blank_rows_more_options_and_header_variants() -> None:
    header = ["题号", "题型", "题干*", "选项 A", "选项B", "选项C", "选项D", "选项E", "选项F",
              "正确答案", "答案解析", "难度", "知识点"]  # fmt: skip
    row = ["m1", "多选", "六选二", "1", "2", "3", "4", "5", "6", "EF", None, "难", "a,b"]
    bank = parse_bank("x.xlsx", xlsx_bytes([[], header, [], row, [None, None]]))
    question = bank.questions[0]
    assert question.options == ["1", "2", "3", "4", "5", "6"]
    assert question.answer == ["E", "F"]
    assert question.difficulty == 3
    assert question.tags == ["a", "b"]


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8", ","), ("utf-8-sig", ","), ("gb18030", ","), ("utf-8", ";"), ("utf-8", "\t")],
)
def test_csv_encodings_and_delimiters(encoding: str, delimiter: str) -> None:
    content = csv_bytes([ZH_HEADER, *good_rows()], encoding=encoding, delimiter=delimiter)
    bank = parse_bank("law-basics.csv", content)
    assert (bank.slug, bank.title) == ("law-basics", "law-basics")
    assert [q.answer for q in bank.questions] == [
        ["A"],
        ["A", "B", "D"],
        [True],
        ["12月4日", "12月4号"],
    ]


def test_sheet_numbers_stay_as_written() -> None:
    rows = [ZH_HEADER, [1, "填空", 2026, None, None, None, None, 12.0, None, 2.0, None]]
    bank = parse_bank("x.xlsx", xlsx_bytes(rows))
    question = bank.questions[0]
    assert (question.qid, question.text, question.answer, question.difficulty) == (
        "1",
        "2026",
        ["12"],
        2,
    )


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("fire-safety.xlsx", "fire-safety"),
        ("Fire Safety.xlsx", "fire-safety"),
        ("fire_safety (1).xlsx", "fire-safety"),
        ("fire-safety - 副本.xlsx", "fire-safety"),
        ("/tmp/dir/law.csv", "law"),
    ],
)
def test_slug_from_file_name(name: str, slug: str) -> None:
    assert slug_from_filename(name) == slug


def test_a_file_name_that_is_no_bank_id_is_explained() -> None:
    with pytest.raises(BankError) as info:
        parse_bank("消防安全.xlsx", xlsx_bytes([ZH_HEADER, *good_rows()]))
    text = str(info.value.problems[0])
    assert "消防安全.xlsx, row" not in text
    assert 'bank id "消防安全" taken from the file name is not valid' in text
    assert "add a row 'bank | <id>'" in text


def test_yaml_without_bank_key_uses_the_file_name() -> None:
    content = b"title: t\nquestions:\n  - {id: a, type: judge, text: x, answer: yes}\n"
    bank = parse_bank("judge-only.yml", content)
    assert (bank.slug, bank.questions[0].answer) == ("judge-only", [True])


def test_whitespace_and_newlines_are_normalised() -> None:
    a = parse_bank("x.yaml", yaml_bank([{**_choice("single", "A"), "text": "  题干\r\n第二行  "}]))
    b = parse_bank("x.yaml", yaml_bank([{**_choice("single", " a "), "text": "题干\n第二行"}]))
    assert a.questions[0].text == "题干\n第二行"
    assert a.questions[0].content_hash == b.questions[0].content_hash


def _choice(qtype: str, answer: object) -> dict[str, object]:
    return {
        "id": "c1",
        "type": qtype,
        "text": "选择。",
        "options": ["甲", "乙", "丙", "丁"],
        "answer": answer,
    }
