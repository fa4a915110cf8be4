"""Reading bank files: YAML (the canonical format), XLSX and CSV sheets.

Each reader turns bytes into a ``RawBank`` (raw values with the YAML line or sheet row of
each), and ``parse_bank`` validates it. A file that cannot be read at all raises BankError at
once; everything else is collected and reported together by ``validate_bank``.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import Any

import yaml

from bot.banks import problems as P
from bot.banks.model import (
    LETTERS,
    ParsedBank,
    Progress,
    RawBank,
    RawQuestion,
    Reason,
    as_text,
    show,
    validate_bank,
)
from bot.banks.problems import BankError, Problem

YAML_SUFFIXES = (".yaml", ".yml")
SHEET_SUFFIXES = (".xlsx", ".csv")
MAX_UNPACKED_MB = 200

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Sheet column headers (compared after NFKC, lower case, spaces and * removed).
HEADER_ALIASES: dict[str, str] = {
    "id": "id",
    "qid": "id",
    "题号": "id",
    "编号": "id",
    "试题编号": "id",
    "type": "type",
    "题型": "type",
    "题目类型": "type",
    "类型": "type",
    "text": "text",
    "stem": "text",
    "question": "text",
    "题干": "text",
    "题目": "text",
    "题目内容": "text",
    "试题内容": "text",
    "answer": "answer",
    "答案": "answer",
    "正确答案": "answer",
    "参考答案": "answer",
    "explanation": "explanation",
    "analysis": "explanation",
    "解析": "explanation",
    "答案解析": "explanation",
    "试题解析": "explanation",
    "difficulty": "difficulty",
    "难度": "difficulty",
    "难度等级": "difficulty",
    "tags": "tags",
    "tag": "tags",
    "标签": "tags",
    "知识点": "tags",
}
for _letter in LETTERS:
    for _prefix in ("", "选项", "option", "option_"):
        HEADER_ALIASES[f"{_prefix}{_letter.lower()}"] = f"options.{_letter}"
EXTRA_OPTION_RE = re.compile(r"^(选项|option_?)[k-z]$")
REQUIRED_COLUMNS = {
    "id": "id (题号)",
    "type": "type (题型)",
    "text": "text (题干)",
    "answer": "answer (答案)",
}
ALLOWED_COLUMNS = "id, type, text, A…J, answer, explanation, difficulty, tags (题号, 题型, 题干, 选项A…选项J, 答案, 解析, 难度, 标签)"

# Rows above the header that set bank details: first cell is the key, second the value.
META_ALIASES: dict[str, str] = {
    "bank": "bank",
    "题库编号": "bank",
    "title": "title",
    "题库名称": "title",
    "tags": "tags",
    "题库标签": "tags",
    "campaign": "campaign.title",
    "专项名称": "campaign.title",
    "campaign_from": "campaign.from",
    "专项开始": "campaign.from",
    "campaign_to": "campaign.to",
    "专项结束": "campaign.to",
    "campaign_questions": "campaign.questions",
    "专项题数": "campaign.questions",
}
_COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|\s*-\s*(副本|copy))+$", re.IGNORECASE)


def display_name(filename: str) -> str:
    return PurePath(filename).name or filename


def slug_from_filename(filename: str) -> str:
    """``Fire Safety (1).xlsx`` → ``fire-safety``: the bank id a file name suggests."""
    stem = PurePath(filename).stem
    stem = _COPY_SUFFIX.sub("", stem).strip()
    return re.sub(r"[\s_]+", "-", stem).lower()


def parse_bank(filename: str, content: bytes, progress: Progress | None = None) -> ParsedBank:
    """Read and validate a bank file; BankError lists every problem found."""
    suffix = PurePath(filename).suffix.lower()
    if suffix in YAML_SUFFIXES:
        raw = read_yaml(filename, content)
    elif suffix == ".xlsx":
        raw = read_xlsx(filename, content, progress)
    elif suffix == ".csv":
        raw = read_csv(filename, content)
    elif suffix == ".xls":
        raise BankError([Problem(display_name(filename), P.OLD_EXCEL)])
    else:
        raise BankError(
            [Problem(display_name(filename), P.UNSUPPORTED_FILE, {"suffix": suffix or "—"})]
        )
    return validate_bank(raw, progress)


def decode_text(file: str, content: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 as Excel and Notepad save in China."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BankError([Problem(file, P.NOT_TEXT)])


# ---------------------------------------------------------------- YAML


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _unsafe_tag(exc: yaml.MarkedYAMLError) -> str | None:
    problem = exc.problem or ""
    if "could not determine a constructor for the tag" not in problem:
        return None
    found = re.search(r"'([^']*)'", problem)
    tag = found.group(1) if found else "?"
    return tag.replace("tag:yaml.org,2002:", "!!")


_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _construct(loader: yaml.SafeLoader, node: yaml.Node, made: dict[int, Any]) -> Any:
    """Plain strings, lists and mappings built directly (several times faster than PyYAML's
    generic constructor on a big bank); every other node goes to the safe constructor, which
    refuses unknown and python tags."""
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _STR_TAG:
            return node.value
        return loader.construct_object(node, deep=True)
    if id(node) in made:  # an alias, possibly recursive
        return made[id(node)]
    if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
        items: list[Any] = []
        made[id(node)] = items
        items.extend(_construct(loader, child, made) for child in node.value)
        return items
    if (
        isinstance(node, yaml.MappingNode)
        and node.tag == _MAP_TAG
        and not any(key.tag == _MERGE_TAG for key, _value in node.value)
    ):
        mapping: dict[Any, Any] = {}
        made[id(node)] = mapping
        for key_node, value_node in node.value:
            key = _construct(loader, key_node, made)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found unhashable key",
                    key_node.start_mark,
                ) from None
            mapping[key] = _construct(loader, value_node, made)
        return mapping
    return loader.construct_object(node, deep=True)


def load_yaml(file: str, text: str) -> tuple[Any, yaml.Node | None]:
    """Safe-load one YAML document, keeping its node tree for line numbers."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = _construct(loader, node, {}) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        tag = _unsafe_tag(exc)
        if tag is not None:
            raise BankError([Problem(file, P.YAML_UNSAFE, {"tag": tag}, line=line)]) from None
        detail = exc.problem or exc.context or "syntax error"
        raise BankError([Problem(file, P.YAML_SYNTAX, {"detail": detail}, line=line)]) from None
    except yaml.YAMLError as exc:
        raise BankError([Problem(file, P.YAML_SYNTAX, {"detail": str(exc)})]) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # e.g. a date-like scalar such as 2026-13-45
        raise BankError(
            [Problem(file, P.YAML_SYNTAX, {"detail": f"{type(exc).__name__}: {exc}"})]
        ) from None
    finally:
        loader.dispose()
    return data, node


def _mapping_lines(
    node: yaml.MappingNode, prefix: str, lines: dict[str, int], file: str, found: list[Problem]
) -> None:
    seen: set[str] = set()
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key = str(key_node.value)
        if key == "<<":
            continue
        if key in seen:
            found.append(
                Problem(
                    file, P.DUPLICATE_KEY, {"key": key}, line=_line(key_node), field=prefix + key
                )
            )
        seen.add(key)
        lines.setdefault(prefix + key, _line(key_node))
        if key == "options" and isinstance(value_node, yaml.SequenceNode):
            for letter, item in zip(LETTERS, value_node.value, strict=False):
                lines[f"options.{letter}"] = _line(item)
        if key == "campaign" and not prefix and isinstance(value_node, yaml.MappingNode):
            _mapping_lines(value_node, "campaign.", lines, file, found)


def read_yaml(filename: str, content: bytes) -> RawBank:
    file = display_name(filename)
    data, node = load_yaml(file, decode_text(file, content))
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise BankError([Problem(file, P.NOT_A_BANK_YAML)])
    if "questions" not in data:
        raise BankError([Problem(file, P.NOT_A_BANK_YAML)])
    found: list[Problem] = []
    meta_lines: dict[str, int] = {}
    _mapping_lines(node, "", meta_lines, file, found)
    items = data["questions"]
    if not isinstance(items, list):
        found.append(
            Problem(file, P.NOT_A_LIST, line=meta_lines.get("questions"), field="questions")
        )
        items = []
    item_nodes: list[yaml.Node] = []
    for key_node, value_node in node.value:
        if (
            isinstance(key_node, yaml.ScalarNode)
            and key_node.value == "questions"
            and isinstance(value_node, yaml.SequenceNode)
        ):
            item_nodes = list(value_node.value)
    questions: list[RawQuestion] = []
    for index, item in enumerate(items):
        item_node = item_nodes[index] if index < len(item_nodes) else None
        line = _line(item_node) if item_node is not None else meta_lines.get("questions")
        if not isinstance(item, dict):
            found.append(Problem(file, P.QUESTION_NOT_MAPPING, {"value": show(item)}, line=line))
            continue
        field_lines: dict[str, int] = {}
        if isinstance(item_node, yaml.MappingNode):
            _mapping_lines(item_node, "", field_lines, file, found)
        questions.append(RawQuestion(dict(item), line=line, field_lines=field_lines))
    meta = {key: value for key, value in data.items() if key != "questions"}
    slug_from_name = "bank" not in meta
    if slug_from_name:
        meta["bank"] = slug_from_filename(filename)
    if "title" not in meta:
        meta["title"] = meta["bank"]
    return RawBank(
        file,
        meta,
        questions,
        meta_lines=meta_lines,
        slug_from_name=slug_from_name,
        problems=found,
    )


# ---------------------------------------------------------------- sheets


def cell_text(value: Any) -> str | None:
    """A spreadsheet cell as text: numbers as shown (2, not 2.0), TRUE/FALSE, dates as ISO."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    try:
        text = as_text(value)
    except Reason:
        text = str(value).strip()
    return text or None


def _header_key(text: str) -> str:
    key = unicodedata.normalize("NFKC", text).strip().lower()
    return re.sub(r"[\s*＊]+", "", key)


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index + 1))


def read_table(
    file: str,
    rows: Iterable[Sequence[Any]],
    *,
    default_slug: str,
    default_title: str,
    progress: Progress | None = None,
    total_rows: int | None = None,
) -> RawBank:
    """Rows of a sheet (numbered from 1 as the spreadsheet shows them) → a raw bank."""
    meta: dict[str, Any] = {}
    meta_rows: dict[str, int] = {}
    found: list[Problem] = []
    columns: dict[int, str] | None = None
    labels: dict[str, str] = {}
    questions: list[RawQuestion] = []
    option_letters: list[str] = []
    for number, row in enumerate(rows, start=1):
        if progress is not None and number % 500 == 0:
            progress("read", number, max(total_rows or 0, number))
        cells = [cell_text(c) for c in row]
        if not any(cells):
            continue
        if columns is None:
            first = _header_key(cells[0]) if cells[0] else ""
            if first in META_ALIASES:
                key = META_ALIASES[first]
                meta_rows[key] = number
                meta[key] = cells[1] if len(cells) > 1 else None
                continue
            columns = _read_header(file, cells, number, labels, found)
            option_letters = sorted(
                {columns[i].split(".")[1] for i in columns if columns[i].startswith("options.")}
            )
            continue
        values: dict[str, Any] = {}
        options: dict[str, str | None] = {}
        for index, key in columns.items():
            value = cells[index] if index < len(cells) else None
            if key.startswith("options."):
                options[key.split(".")[1]] = value
            else:
                values[key] = value
        if option_letters:
            last = LETTERS.index(option_letters[-1])
            values["options"] = [options.get(LETTERS[i]) for i in range(last + 1)]
        questions.append(RawQuestion(values, row=number, labels=labels, split_blank=True))
    if columns is None:
        raise BankError([Problem(file, P.NOT_A_BANK_SHEET)])
    if progress is not None:
        progress("read", number if questions else 0, number if questions else 0)
    slug_from_name = "bank" not in meta
    bank_meta: dict[str, Any] = {
        "bank": meta.get("bank") if not slug_from_name else default_slug,
        "title": meta.get("title") if "title" in meta else default_title,
    }
    if "tags" in meta:
        bank_meta["tags"] = meta["tags"]
    campaign = {k.split(".")[1]: v for k, v in meta.items() if k.startswith("campaign.")}
    if campaign:
        bank_meta["campaign"] = campaign
    return RawBank(
        file,
        bank_meta,
        questions,
        meta_rows=meta_rows,
        slug_from_name=slug_from_name,
        problems=found,
    )


def _read_header(
    file: str, cells: list[str | None], number: int, labels: dict[str, str], found: list[Problem]
) -> dict[int, str]:
    columns: dict[int, str] = {}
    first_column: dict[str, int] = {}
    unknown: list[Problem] = []
    for index, text in enumerate(cells):
        if not text:
            continue
        key = HEADER_ALIASES.get(_header_key(text))
        if key is None:
            if EXTRA_OPTION_RE.match(_header_key(text)):
                unknown.append(
                    Problem(file, P.TOO_MANY_OPTION_COLUMNS, {"name": text}, row=number, field=text)
                )
            else:
                unknown.append(
                    Problem(
                        file,
                        P.UNKNOWN_COLUMN,
                        {"name": text, "column": _column_letter(index), "allowed": ALLOWED_COLUMNS},
                        row=number,
                        field=text,
                    )
                )
            continue
        if key in first_column:
            found.append(
                Problem(
                    file,
                    P.DUPLICATE_COLUMN,
                    {
                        "name": text,
                        "first": _column_letter(first_column[key]),
                        "second": _column_letter(index),
                    },
                    row=number,
                    field=text,
                )
            )
            continue
        first_column[key] = index
        columns[index] = key
        labels[key] = text
        if key.startswith("options.") and "options" not in labels:
            labels["options"] = "选项" if text.startswith("选项") else "options"
    if not columns:
        raise BankError([Problem(file, P.NOT_A_BANK_SHEET, row=number)])
    found.extend(unknown)
    missing = [
        Problem(file, P.MISSING_COLUMN, {"name": name}, row=number)
        for key, name in REQUIRED_COLUMNS.items()
        if key not in first_column
    ]
    if missing:
        # Every row would repeat the same complaint; the header is the problem.
        raise BankError([*found, *missing])
    return columns


def read_csv(filename: str, content: bytes) -> RawBank:
    file = display_name(filename)
    text = decode_text(file, content)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((",", ";", "\t"), key=lambda d: (first_line.count(d), d == ","))
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise BankError([Problem(file, P.BAD_CSV, {"detail": str(exc)})]) from None
    stem = PurePath(filename).stem
    return read_table(file, rows, default_slug=slug_from_filename(filename), default_title=stem)


def read_xlsx(filename: str, content: bytes, progress: Progress | None = None) -> RawBank:
    file = display_name(filename)
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise BankError([Problem(file, P.NOT_XLSX, {"detail": type(exc).__name__})]) from None
    if unpacked > MAX_UNPACKED_MB * 1024 * 1024:
        raise BankError(
            [
                Problem(
                    file,
                    P.XLSX_TOO_BIG,
                    {"size": f"{unpacked / 1048576:.0f}", "limit": MAX_UNPACKED_MB},
                )
            ]
        )
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise BankError([Problem(file, P.NOT_XLSX, {"detail": type(exc).__name__})]) from None
    try:
        if not workbook.worksheets:
            raise BankError([Problem(file, P.NOT_A_BANK_SHEET)])
        sheet = workbook.worksheets[0]
        estimate = getattr(sheet, "max_row", None)
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()  # some writers store wrong dimensions
        try:
            return read_table(
                file,
                sheet.iter_rows(min_row=1, values_only=True),
                default_slug=slug_from_filename(filename),
                default_title=str(sheet.title),
                progress=progress,
                total_rows=estimate if isinstance(estimate, int) else None,
            )
        except BankError:
            raise
        except Exception as exc:  # damaged sheet XML
            raise BankError([Problem(file, P.NOT_XLSX, {"detail": type(exc).__name__})]) from None
    finally:
        workbook.close()
