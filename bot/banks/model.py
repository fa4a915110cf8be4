"""The validated form of a bank, and the rules that turn raw file values into it.

Readers (``formats.py``) hand over raw values with their places; ``validate_bank`` checks them
all, collects every problem, and returns a ``ParsedBank`` only when there is none. Pydantic
checks each field; the rules that tie fields together (answer against type and options) run
afterwards, and also for a question whose other fields failed, so one pass reports everything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.banks import problems as P
from bot.banks.problems import BankError, Problem

LETTERS = "ABCDEFGHIJ"
MIN_OPTIONS = 2
MAX_OPTIONS = len(LETTERS)
MAX_QUESTIONS = 50_000
QUESTION_TYPES = ("single", "multiple", "judge", "blank")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
QUESTION_KEYS = ("id", "type", "text", "options", "answer", "explanation", "difficulty", "tags")
BANK_KEYS = ("bank", "title", "tags", "campaign", "questions")

TYPE_ALIASES = {
    "single": "single",
    "single choice": "single",
    "single_choice": "single",
    "单选": "single",
    "单选题": "single",
    "单项选择": "single",
    "单项选择题": "single",
    "multiple": "multiple",
    "multiple choice": "multiple",
    "multiple_choice": "multiple",
    "多选": "multiple",
    "多选题": "multiple",
    "多项选择": "multiple",
    "多项选择题": "multiple",
    "judge": "judge",
    "true/false": "judge",
    "true_false": "judge",
    "判断": "judge",
    "判断题": "judge",
    "是非题": "judge",
    "blank": "blank",
    "fill": "blank",
    "填空": "blank",
    "填空题": "blank",
}
TRUE_WORDS = {"true", "t", "yes", "对", "正确", "是", "√", "✓", "✔"}
FALSE_WORDS = {"false", "f", "no", "错", "错误", "否", "×", "✗", "✘", "x"}
DIFFICULTY_WORDS = {
    "易": 1,
    "容易": 1,
    "简单": 1,
    "中": 2,
    "中等": 2,
    "难": 3,
    "较难": 3,
    "困难": 3,
}
# Separators people put between answer letters and between tags.
LETTER_SEPARATORS = re.compile(r"[\s,，、;；/]+")
TAG_SEPARATORS = re.compile(r"[,，、;；]+")
BLANK_SEPARATORS = re.compile(r"[|｜]")


class Reason(ValueError):
    """A validation failure that carries a problem reason (message id) and its parameters;
    ``part`` names the item of a list field it is about (an option letter)."""

    def __init__(self, reason: str, *, part: str | None = None, **params: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params = params
        self.part = part


def show(value: Any, limit: int = 40) -> str:
    """A user's value quoted for a message, cut to a readable length."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, tuple)):
        # One level only: YAML aliases can make a list contain itself.
        items = ["…" if isinstance(v, (list, tuple, dict)) else str(v) for v in value[:5]]
        text = "[" + ", ".join(items) + ("]" if len(value) <= 5 else ", …]")
    elif isinstance(value, dict):
        text = "{…}"
    else:
        text = str(value)
    text = text.replace("\n", " ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f'"{text}"'


def _clean(text: str) -> str:
    """Newlines normalised and outer whitespace removed; NUL and lone surrogates refused
    (PostgreSQL stores neither)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if "\x00" in text:
        raise Reason(P.NUL_CHARACTER)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Reason(P.NUL_CHARACTER) from None
    return text


def as_text(value: Any) -> str | None:
    """A scalar as text (numbers and dates as written); None for nothing at all."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Reason(P.YAML_BOOLEAN, value=show(value))
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    raise Reason(P.NOT_TEXT_VALUE, value=show(value))


def required_text(value: Any, *, limit: int | None = None, empty: str = P.EMPTY_VALUE) -> str:
    text = as_text(value)
    if not text:
        raise Reason(empty)
    if limit is not None and len(text) > limit:
        raise Reason(P.TOO_LONG, limit=limit)
    return text


def optional_text(value: Any) -> str | None:
    return as_text(value) or None


def normalise_type(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Reason(P.MISSING_TYPE)
    if not isinstance(value, str):
        raise Reason(P.UNKNOWN_TYPE, value=show(value))
    key = unicodedata.normalize("NFKC", value).strip().lower()
    if key not in TYPE_ALIASES:
        raise Reason(P.UNKNOWN_TYPE, value=show(value))
    return TYPE_ALIASES[key]


def normalise_options(value: Any) -> list[str]:
    """Options as texts, A first. Empty cells at the end are dropped; a gap is an error."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Reason(P.NOT_A_LIST)
    texts: list[str | None] = []
    for index, item in enumerate(value[: MAX_OPTIONS + 1]):
        try:
            texts.append(as_text(item))
        except Reason as exc:
            letter = LETTERS[index] if index < MAX_OPTIONS else "K"
            raise Reason(exc.reason, part=letter, **exc.params) from None
    if len(value) > MAX_OPTIONS:
        raise Reason(P.OPTION_COUNT, count=len(value))
    while texts and not texts[-1]:
        texts.pop()
    for index, text in enumerate(texts):
        if not text:
            later = next(i for i in range(index + 1, len(texts)) if texts[i])
            raise Reason(P.OPTION_GAP, letter=LETTERS[index], later=LETTERS[later])
    options = [t for t in texts if t]
    seen: dict[str, int] = {}
    for index, text in enumerate(options):
        if text in seen:
            raise Reason(P.DUPLICATE_OPTION, first=LETTERS[seen[text]], second=LETTERS[index])
        seen[text] = index
    return options


def normalise_difficulty(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: Any = value
    if isinstance(value, bool):
        raise Reason(P.BAD_DIFFICULTY, value=show(value))
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if text in DIFFICULTY_WORDS:
            return DIFFICULTY_WORDS[text]
        try:
            number = float(text) if "." in text else int(text)
        except ValueError:
            raise Reason(P.BAD_DIFFICULTY, value=show(value)) from None
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if not isinstance(number, int) or number not in (1, 2, 3):
        raise Reason(P.BAD_DIFFICULTY, value=show(value))
    return number


def normalise_tags(value: Any) -> list[str]:
    """Tags from a list or from text separated by commas (ASCII or 、，；)."""
    if value is None:
        return []
    items: list[Any]
    if isinstance(value, list):
        items = value
    elif isinstance(value, str):
        items = TAG_SEPARATORS.split(value)
    else:
        items = [value]
    tags: list[str] = []
    for item in items:
        text = as_text(item)
        for piece in TAG_SEPARATORS.split(text) if text else []:
            tag = piece.strip()
            if tag and tag not in tags:
                if len(tag) > 64:
                    raise Reason(P.TOO_LONG, limit=64)
                tags.append(tag)
    return tags


def normalise_slug(value: Any) -> str:
    text = as_text(value)
    if not text:
        raise Reason(P.EMPTY_VALUE)
    if not SLUG_RE.match(text):
        raise Reason(P.BAD_SLUG, value=show(text))
    return text


def _letters(value: Any) -> list[str]:
    if isinstance(value, list):
        parts = []
        for item in value:
            if not isinstance(item, str):
                raise Reason(P.BAD_LETTERS, value=show(value))
            parts.append(item)
        raw = "".join(parts)
    elif isinstance(value, str):
        raw = value
    else:
        raise Reason(P.BAD_LETTERS, value=show(value))
    compact = LETTER_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw)).upper()
    if not compact:
        raise Reason(P.MISSING_ANSWER)
    if any(ch not in LETTERS for ch in compact):
        raise Reason(P.BAD_LETTERS, value=show(value))
    return sorted(set(compact))


def _judge(value: Any) -> bool:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = unicodedata.normalize("NFKC", value).strip().lower()
        if not word:
            raise Reason(P.MISSING_ANSWER)
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise Reason(P.BAD_JUDGE, value=show(value))


def _variants(value: Any, *, split: bool) -> list[str]:
    items = value if isinstance(value, list) else [value]
    variants: list[str] = []
    for item in items:
        if isinstance(item, str) and split:
            pieces: list[Any] = BLANK_SEPARATORS.split(item)
        else:
            pieces = [item]
        for piece in pieces:
            text = as_text(piece)
            if text and text not in variants:
                variants.append(text)
    if not variants:
        raise Reason(P.BLANK_NO_ANSWER)
    return variants


def check_answer(
    qtype: str, options: list[str], answer: Any, *, split_blank: bool
) -> tuple[list[Any] | None, list[tuple[str, Reason]]]:
    """The stored answer for a question of ``qtype`` with ``options``, or the problems.

    Stored forms: letters ``["A", "C"]`` for choices, ``[True]``/``[False]`` for judge,
    accepted variants for blanks.
    """
    found: list[tuple[str, Reason]] = []
    if qtype in ("single", "multiple"):
        if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
            found.append(("options", Reason(P.OPTION_COUNT, count=len(options))))
    elif options:
        reason = P.JUDGE_WITH_OPTIONS if qtype == "judge" else P.BLANK_WITH_OPTIONS
        found.append(("options", Reason(reason)))
    empty = answer is None or answer == "" or answer == []
    if empty:
        reason = P.BLANK_NO_ANSWER if qtype == "blank" else P.MISSING_ANSWER
        found.append(("answer", Reason(reason)))
        return None, found
    try:
        if qtype == "judge":
            return [_judge(answer)], found
        if qtype == "blank":
            return _variants(answer, split=split_blank), found
        letters = _letters(answer)
    except Reason as exc:
        found.append(("answer", exc))
        return None, found
    missing = [letter for letter in letters if LETTERS.index(letter) >= len(options)]
    shown = f"A–{LETTERS[len(options) - 1]}" if len(options) > 1 else "A" if options else "—"
    for letter in missing:
        found.append(("answer", Reason(P.NO_SUCH_OPTION, letter=letter, letters=shown)))
    if qtype == "single" and len(letters) > 1:
        found.append(("answer", Reason(P.SINGLE_MANY, value=show("".join(letters)))))
    return (None if found else letters), found


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuestionFields(_Strict):
    """The fields of one question that can be checked on their own."""

    id: str
    type: str
    text: str
    options: list[str] = []
    answer: Any = None
    explanation: str | None = None
    difficulty: int | None = None
    tags: list[str] = []

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> str:
        return required_text(value, limit=64, empty=P.MISSING_ID)

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> str:
        return normalise_type(value)

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return required_text(value, empty=P.EMPTY_STEM)

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, value: Any) -> list[str]:
        return normalise_options(value)

    @field_validator("explanation", mode="before")
    @classmethod
    def _explanation(cls, value: Any) -> str | None:
        return optional_text(value)

    @field_validator("difficulty", mode="before")
    @classmethod
    def _difficulty(cls, value: Any) -> int | None:
        return normalise_difficulty(value)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> list[str]:
        return normalise_tags(value)


class CampaignFields(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    title: str
    from_: dt.date = Field(alias="from")
    to: dt.date
    questions: int

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, value: Any) -> str:
        return required_text(value, limit=255)

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _date(cls, value: Any) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise Reason(P.BAD_DATE, value=show(value))

    @field_validator("questions", mode="before")
    @classmethod
    def _count(cls, value: Any) -> int:
        number: Any = value
        if isinstance(value, str) and value.strip().isdigit():
            number = int(value.strip())
        if isinstance(number, float) and number.is_integer():
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 100:
            raise Reason(P.BAD_COUNT, low=1, high=100, value=show(value))
        return number


class BankFields(_Strict):
    bank: str
    title: str
    tags: list[str] = []

    @field_validator("bank", mode="before")
    @classmethod
    def _bank(cls, value: Any) -> str:
        return normalise_slug(value)

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, value: Any) -> str:
        return required_text(value, limit=255)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> list[str]:
        return normalise_tags(value)


@dataclass(frozen=True, slots=True)
class Campaign:
    title: str
    start: dt.date
    end: dt.date
    questions: int


@dataclass(frozen=True, slots=True)
class ParsedQuestion:
    qid: str
    type: str
    text: str
    options: list[str]
    answer: list[Any]
    explanation: str | None
    difficulty: int | None
    tags: list[str]
    content_hash: str


@dataclass(frozen=True)
class ParsedBank:
    slug: str
    title: str
    tags: list[str]
    campaign: Campaign | None
    questions: list[ParsedQuestion]


@dataclass
class RawQuestion:
    """One question as read from a file: raw values plus where each came from."""

    values: dict[Any, Any]
    line: int | None = None
    row: int | None = None
    field_lines: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # field → column header shown
    split_blank: bool = False  # sheets: blank variants separated by |


@dataclass
class RawBank:
    file: str
    meta: dict[str, Any]
    questions: list[RawQuestion]
    meta_lines: dict[str, int] = field(default_factory=dict)
    meta_rows: dict[str, int] = field(default_factory=dict)
    slug_from_name: bool = False
    problems: list[Problem] = field(default_factory=list)


def content_hash(
    qtype: str,
    text: str,
    options: list[str],
    answer: list[Any],
    explanation: str | None,
    difficulty: int | None,
    tags: list[str],
) -> str:
    """A fingerprint of a question's content: equal content, equal hash, on every import."""
    payload = json.dumps(
        [qtype, text, options, answer, explanation, difficulty, tags],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _reason_of(error: Any) -> tuple[str, dict[str, Any], str | None]:
    ctx = error.get("ctx") or {}
    exc = ctx.get("error")
    if isinstance(exc, Reason):
        return exc.reason, exc.params, exc.part
    kind = error.get("type")
    if kind == "missing":
        return P.MISSING_VALUE, {}, None
    return P.INVALID_VALUE, {"detail": error.get("msg", "")}, None


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join("from" if part == "from_" else str(part) for part in loc)


Progress = Callable[[str, int, int], None]


def validate_bank(raw: RawBank, progress: Progress | None = None) -> ParsedBank:
    """Check everything in ``raw``; the bank, or BankError listing every problem."""
    problems = list(raw.problems)
    file = raw.file

    def meta_problem(key: str, reason: str, params: dict[str, Any], shown: str) -> None:
        top = key.split(".")[0]
        problems.append(
            Problem(
                file,
                reason,
                params,
                line=raw.meta_lines.get(key, raw.meta_lines.get(top)),
                row=raw.meta_rows.get(key, raw.meta_rows.get(top)),
                field=shown,
            )
        )

    meta = dict(raw.meta)
    campaign_raw = meta.pop("campaign", None)
    bank: BankFields | None = None
    campaign: CampaignFields | None = None
    try:
        bank = BankFields.model_validate(meta)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            name = _field_name(loc)
            reason, params, _part = _reason_of(error)
            if error["type"] == "extra_forbidden":
                reason, params = (
                    P.UNKNOWN_KEY,
                    {"key": show(loc[-1]), "allowed": ", ".join(BANK_KEYS)},
                )
            if loc == ("bank",) and reason == P.BAD_SLUG and raw.slug_from_name:
                reason = P.BAD_SLUG_FROM_NAME
            meta_problem(name, reason, params, name)
    if campaign_raw is not None and not isinstance(campaign_raw, dict):
        meta_problem("campaign", P.NOT_A_MAPPING, {}, "campaign")
    elif campaign_raw is not None:
        try:
            campaign = CampaignFields.model_validate(campaign_raw)
        except ValidationError as exc:
            for error in exc.errors():
                name = "campaign." + _field_name(tuple(error["loc"]))
                reason, params, _part = _reason_of(error)
                if error["type"] == "extra_forbidden":
                    allowed = "title, from, to, questions"
                    reason, params = (
                        P.UNKNOWN_KEY,
                        {"key": show(error["loc"][-1]), "allowed": allowed},
                    )
                meta_problem(name, reason, params, name)

    if not raw.questions and not problems:
        problems.append(Problem(file, P.NO_QUESTIONS))
    if len(raw.questions) > MAX_QUESTIONS:
        problems.append(
            Problem(
                file, P.TOO_MANY_QUESTIONS, {"count": len(raw.questions), "limit": MAX_QUESTIONS}
            )
        )
        raise BankError(problems)

    questions: list[ParsedQuestion] = []
    first_place: dict[str, RawQuestion] = {}
    total = len(raw.questions)
    for number, item in enumerate(raw.questions, start=1):
        if progress is not None and (number % 500 == 0 or number == total):
            progress("check", number, total)
        parsed = _validate_question(file, item, problems)
        qid = parsed.qid if parsed else _guess_id(item)
        if qid is not None:
            if qid in first_place:
                other = first_place[qid]
                where: int | None
                if other.row is not None:
                    reason, where = P.DUPLICATE_ID_ROW, other.row
                else:
                    reason, where = P.DUPLICATE_ID_LINE, other.field_lines.get("id", other.line)
                problems.append(
                    Problem(
                        file,
                        reason,
                        {"qid": qid, "other": where},
                        line=item.field_lines.get("id", item.line),
                        row=item.row,
                        qid=qid,
                        field=item.labels.get("id", "id"),
                    )
                )
            else:
                first_place[qid] = item
        if parsed is not None:
            questions.append(parsed)

    if campaign is not None:
        if campaign.to < campaign.from_:
            meta_problem(
                "campaign.to",
                P.CAMPAIGN_DATES,
                {"to": campaign.to.isoformat(), "start": campaign.from_.isoformat()},
                "campaign.to",
            )
        if raw.questions and campaign.questions > len(raw.questions):
            meta_problem(
                "campaign.questions",
                P.CAMPAIGN_TOO_MANY,
                {"count": campaign.questions, "total": len(raw.questions)},
                "campaign.questions",
            )
    if problems or bank is None:
        problems.sort(key=lambda p: p.line or p.row or 0)
        raise BankError(problems)
    parsed_campaign = None
    if campaign is not None:
        parsed_campaign = Campaign(campaign.title, campaign.from_, campaign.to, campaign.questions)
    return ParsedBank(bank.bank, bank.title, list(bank.tags), parsed_campaign, questions)


def _guess_id(item: RawQuestion) -> str | None:
    try:
        return required_text(item.values.get("id"), limit=64)
    except Reason:
        return None


def _validate_question(
    file: str, item: RawQuestion, problems: list[Problem]
) -> ParsedQuestion | None:
    values = item.values
    qid = _guess_id(item)

    def add(key: str, reason: str, params: dict[str, Any], part: str | None = None) -> None:
        sub = f"{key}.{part}" if part else key
        if part:
            label = item.labels.get(sub) or f"{item.labels.get(key, key)} {part}"
        else:
            label = item.labels.get(key, key)
        problems.append(
            Problem(
                file,
                reason,
                params,
                line=item.field_lines.get(sub, item.field_lines.get(key, item.line)),
                row=item.row,
                qid=qid,
                field=label or None,
            )
        )

    failed: set[str] = set()
    fields: QuestionFields | None = None
    try:
        fields = QuestionFields.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            key = str(loc[0]) if loc else ""
            failed.add(key)
            reason, params, part = _reason_of(error)
            if error["type"] == "extra_forbidden":
                add(key, P.UNKNOWN_KEY, {"key": show(loc[0]), "allowed": ", ".join(QUESTION_KEYS)})
                continue
            if error["type"] == "missing":
                reason = {"id": P.MISSING_ID, "type": P.MISSING_TYPE, "text": P.EMPTY_STEM}.get(
                    key, reason
                )
            add(key, reason, params, part)
    if "type" in failed or "options" in failed:
        return None
    if fields is not None:
        qtype, options = fields.type, fields.options
    else:
        qtype, options = (
            normalise_type(values.get("type")),
            normalise_options(values.get("options")),
        )
    answer, found = check_answer(qtype, options, values.get("answer"), split_blank=item.split_blank)
    for key, failure in found:
        add(key, failure.reason, failure.params, failure.part)
    if fields is None or answer is None or found:
        return None
    return ParsedQuestion(
        qid=fields.id,
        type=qtype,
        text=fields.text,
        options=options,
        answer=answer,
        explanation=fields.explanation,
        difficulty=fields.difficulty,
        tags=list(fields.tags),
        content_hash=content_hash(
            qtype, fields.text, options, answer, fields.explanation, fields.difficulty, fields.tags
        ),
    )
