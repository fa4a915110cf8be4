"""Problems found in a bank file, each with its place, and the error that carries them.

A problem keeps its reason as an English message id plus parameters, so the same problem
reads in English on the command line and in the admin's language in chat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.i18n import N_, Translator, translator

# Reasons. Placeholders are filled from Problem.params.
FILE_TOO_LARGE = N_("the file is {size} MB, over the {limit} MB limit")
UNSUPPORTED_FILE = N_("unsupported file type {suffix}; use .yaml, .yml, .xlsx or .csv")
OLD_EXCEL = N_("old Excel format (.xls); save the workbook as .xlsx")
NOT_TEXT = N_("not UTF-8 or GB18030 text")
NOT_XLSX = N_("not a readable XLSX workbook ({detail})")
XLSX_TOO_BIG = N_("the workbook unpacks to {size} MB; keep a bank under {limit} MB unpacked")
BAD_CSV = N_("not a readable CSV file ({detail})")
YAML_SYNTAX = N_("not valid YAML: {detail}")
YAML_UNSAFE = N_(
    "not safe to load: the tag {tag} is not allowed (only plain YAML values: text, numbers, "
    "lists, mappings, dates)"
)
NOT_A_BANK_YAML = N_(
    "not a question bank: expected a mapping with bank, title and a list of questions"
)
NOT_A_BANK_SHEET = N_(
    "not a question bank: no header row with the columns id, type, text, answer "
    "(题号, 题型, 题干, 答案)"
)
NO_QUESTIONS = N_("the bank has no questions")
QUESTION_NOT_MAPPING = N_(
    "each question must be a mapping of keys (id, type, text, …), got {value}"
)
TOO_MANY_QUESTIONS = N_("{count} questions; a bank holds at most {limit}")
DUPLICATE_KEY = N_("the key {key} appears twice in the same mapping")
UNKNOWN_KEY = N_("unknown key {key}; allowed: {allowed}")
UNKNOWN_COLUMN = N_("unknown column {name} (column {column}); allowed: {allowed}")
TOO_MANY_OPTION_COLUMNS = N_(
    "column {name}: at most 10 options (A–J) are allowed; remove the column"
)
DUPLICATE_COLUMN = N_("column {name} appears twice (columns {first} and {second})")
MISSING_COLUMN = N_("no {name} column")
BAD_SLUG = N_(
    "bank id {value} is not valid: use lowercase letters a–z, digits and hyphens "
    "(at most 64 characters)"
)
BAD_SLUG_FROM_NAME = N_(
    "bank id {value} taken from the file name is not valid: rename the file using lowercase "
    "letters a–z, digits and hyphens (e.g. fire-safety.xlsx), or add a row 'bank | <id>' "
    "above the header"
)
MISSING_VALUE = N_("missing")
EMPTY_VALUE = N_("is empty")
TOO_LONG = N_("longer than {limit} characters")
NUL_CHARACTER = N_("contains a NUL character or invalid Unicode")
NOT_TEXT_VALUE = N_("must be text, got {value}")
YAML_BOOLEAN = N_("YAML read {value} as true/false; put the text in quotes")
NOT_A_LIST = N_("must be a list")
BAD_DATE = N_("must be a date such as 2026-11-01, got {value}")
BAD_COUNT = N_("must be a whole number from {low} to {high}, got {value}")
CAMPAIGN_DATES = N_("the campaign ends ({to}) before it starts ({start})")
CAMPAIGN_TOO_MANY = N_(
    "the campaign asks {count} questions per attempt but the bank has only {total}"
)
MISSING_ID = N_("the question id is missing")
EMPTY_STEM = N_("the question text (stem) is missing or empty")
MISSING_TYPE = N_("the question type is missing; use single, multiple, judge or blank")
UNKNOWN_TYPE = N_(
    "unknown question type {value}; use single, multiple, judge or blank (单选, 多选, 判断, 填空)"
)
DUPLICATE_ID_ROW = N_("duplicate question id {qid}: row {other} already uses it")
DUPLICATE_ID_LINE = N_("duplicate question id {qid}: line {other} already uses it")
OPTION_COUNT = N_("a choice question needs 2 to 10 options, got {count}")
EMPTY_OPTION = N_("option {letter} is empty")
OPTION_GAP = N_("option {letter} is empty but option {later} is filled")
DUPLICATE_OPTION = N_("options {first} and {second} are the same")
JUDGE_WITH_OPTIONS = N_(
    "a true/false (judge) question takes no options; remove them or change the type"
)
BLANK_WITH_OPTIONS = N_(
    "a fill-in-the-blank question takes no options; remove them or change the type"
)
MISSING_ANSWER = N_("the answer is missing")
BAD_LETTERS = N_("answer {value} is not made of option letters A–J")
NO_SUCH_OPTION = N_("answer {letter} has no option; the options are {letters}")
NOT_A_MAPPING = N_("must be a mapping of keys")
SINGLE_MANY = N_(
    "a single-choice question has exactly one answer, got {value}; use type multiple for several"
)
BAD_JUDGE = N_("a true/false answer must be true or false (对/错, 正确/错误, √/×), got {value}")
BLANK_NO_ANSWER = N_("a fill-in-the-blank question needs at least one accepted answer")
BAD_DIFFICULTY = N_("difficulty must be 1, 2 or 3 (易/中/难), got {value}")
INVALID_VALUE = N_("invalid value: {detail}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a bank file, with where it is and why."""

    file: str
    reason: str
    params: Mapping[str, Any] = field(default_factory=dict)
    line: int | None = None  # YAML line (1-based)
    row: int | None = None  # sheet row as numbered in the spreadsheet
    qid: str | None = None
    field: str | None = None

    def place(self, tr: Translator | None = None) -> str:
        _ = tr or translator("en")
        parts = [self.file]
        if self.line is not None:
            parts.append(_("line {n}", n=self.line))
        if self.row is not None:
            parts.append(_("row {n}", n=self.row))
        if self.qid:
            parts.append(_("question {qid}", qid=self.qid))
        if self.field:
            parts.append(_("field {name}", name=self.field))
        return ("，" if _.is_zh else ", ").join(parts)

    def render(self, tr: Translator | None = None) -> str:
        _ = tr or translator("en")
        reason = _(self.reason, **self.params) if self.params else _(self.reason)
        return ("{place}：{reason}" if _.is_zh else "{place}: {reason}").format(
            place=self.place(_), reason=reason
        )

    def __str__(self) -> str:
        return self.render()


class BankError(Exception):
    """A bank file that cannot be imported; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems[:5]))
        self.problems = problems
