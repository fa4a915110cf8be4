"""Writing a bank back out as YAML (canonical) or XLSX (Chinese headers, like the template).

An exported file imports back as "unchanged": both writers emit exactly what the readers
normalise to.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import yaml

from bot.banks.catalog import BankInfo, StoredQuestion
from bot.banks.model import LETTERS

TYPE_NAMES_ZH = {"single": "单选", "multiple": "多选", "judge": "判断", "blank": "填空"}
SHEET_TITLE_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})


class ExportError(Exception):
    """A bank that the requested format cannot represent faithfully."""


class _Flow(list[Any]):
    """A list written in flow style: ``[保密, 密级]``."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as people write (and as the samples are).
        return super().increase_indent(flow, False)


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(_Flow, _represent_flow)


def _yaml_answer(question: StoredQuestion) -> Any:
    if question.type in ("single", "multiple"):
        return "".join(str(a) for a in question.answer)
    if question.type == "judge":
        return bool(question.answer[0])
    return _Flow(question.answer)


def bank_to_yaml(info: BankInfo, questions: Sequence[StoredQuestion]) -> bytes:
    doc: dict[str, Any] = {"bank": info.slug, "title": info.title}
    if info.tags:
        doc["tags"] = _Flow(info.tags)
    if info.campaign is not None:
        doc["campaign"] = {
            "title": info.campaign.title,
            "from": info.campaign.start,
            "to": info.campaign.end,
            "questions": info.campaign.questions,
        }
    items = []
    for q in questions:
        item: dict[str, Any] = {"id": q.qid, "type": q.type, "text": q.text}
        if q.options:
            item["options"] = list(q.options)
        item["answer"] = _yaml_answer(q)
        if q.explanation:
            item["explanation"] = q.explanation
        if q.difficulty is not None:
            item["difficulty"] = q.difficulty
        if q.tags:
            item["tags"] = _Flow(q.tags)
        items.append(item)
    doc["questions"] = items
    text = yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=4096, indent=2)
    # A blank line between questions; only a question item starts with "  - id:" at this depth.
    text = text.replace("\n  - id: ", "\n\n  - id: ").replace(
        "questions:\n\n  - id: ", "questions:\n  - id: ", 1
    )
    header = f"# Question bank {info.slug}, exported by studybot.\n"
    return (header + text).encode("utf-8")


def _sheet_answer(question: StoredQuestion) -> str:
    if question.type in ("single", "multiple"):
        return "".join(str(a) for a in question.answer)
    if question.type == "judge":
        return "对" if question.answer[0] else "错"
    for variant in question.answer:
        if "|" in str(variant) or "｜" in str(variant):
            raise ExportError(
                f"question {question.qid}: the answer {variant!r} contains '|', which separates "
                "answers in a sheet; export this bank as YAML"
            )
    return "|".join(str(a) for a in question.answer)


def bank_to_xlsx(info: BankInfo, questions: Sequence[StoredQuestion]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils.exceptions import IllegalCharacterError

    option_count = max((len(q.options) for q in questions), default=0)
    header = [
        "题号",
        "题型",
        "题干",
        *[f"选项{LETTERS[i]}" for i in range(option_count)],
        "答案",
        "解析",
        "难度",
        "标签",
    ]
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = info.title.translate(SHEET_TITLE_FORBIDDEN).strip()[:31] or info.slug[:31]
    meta: list[list[Any]] = [["bank", info.slug], ["title", info.title]]
    if info.tags:
        meta.append(["tags", ",".join(info.tags)])
    if info.campaign is not None:
        meta += [
            ["campaign", info.campaign.title],
            ["campaign_from", info.campaign.start.isoformat()],
            ["campaign_to", info.campaign.end.isoformat()],
            ["campaign_questions", info.campaign.questions],
        ]
    try:
        for row in meta:
            sheet.append(row)
        sheet.append(header)
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
        for q in questions:
            options = list(q.options) + [None] * (option_count - len(q.options))
            sheet.append(
                [
                    q.qid,
                    TYPE_NAMES_ZH[q.type],
                    q.text,
                    *options,
                    _sheet_answer(q),
                    q.explanation,
                    q.difficulty,
                    ",".join(q.tags) if q.tags else None,
                ]
            )
    except IllegalCharacterError as exc:
        raise ExportError(f"a text contains a control character XLSX cannot hold ({exc})") from None
    # Texts that look like formulas stay texts.
    for row in sheet.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
    widths = {"A": 8, "B": 6, "C": 50}
    for column, width in widths.items():
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_bank(info: BankInfo, questions: Sequence[StoredQuestion], fmt: str) -> tuple[str, bytes]:
    """File name and content of the bank in ``fmt`` (``yaml`` or ``xlsx``)."""
    if fmt == "yaml":
        return f"{info.slug}.yaml", bank_to_yaml(info, questions)
    if fmt == "xlsx":
        return f"{info.slug}.xlsx", bank_to_xlsx(info, questions)
    raise ValueError(f"unknown export format {fmt!r}")
