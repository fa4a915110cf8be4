"""One entry point for every file format of a report, shared by the CLI and the chat."""

from __future__ import annotations

import re

from bot.i18n import Translator
from bot.reports.figures import Figures

FORMATS = ("md", "xlsx", "docx", "png")


def render(figures: Figures, fmt: str, _: Translator) -> bytes:
    """The report in ``fmt`` (md, xlsx, docx or png) as bytes."""
    if fmt == "md":
        from bot.reports.text import markdown_report

        return markdown_report(figures, _).encode("utf-8")
    if fmt == "xlsx":
        from bot.reports.xlsx import xlsx_bytes

        return xlsx_bytes(figures, _)
    if fmt == "docx":
        from bot.reports.docx import docx_bytes

        return docx_bytes(figures, _)
    if fmt == "png":
        from bot.reports.charts import summary_chart

        return summary_chart(figures, _)
    raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")


def filename(figures: Figures, fmt: str) -> str:
    key = re.sub(r"[^0-9A-Za-z_.-]+", "_", figures.period.key).strip("_") or "period"
    return f"studybot-report-{key}.{fmt}"
