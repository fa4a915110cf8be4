"""The chat texts of banks: a refusal fits one Telegram message, /banks lines show counts."""

from __future__ import annotations

import datetime as dt

from telegram.constants import MessageLimit

from bot.banks.catalog import BankInfo
from bot.banks.model import Campaign
from bot.banks.problems import EMPTY_STEM, UNKNOWN_TYPE, Problem
from bot.i18n import translator
from bot.telegram.banks import bank_line, problems_text


def test_first_twenty_problems_and_a_count_of_the_rest() -> None:
    problems = [
        Problem("b.xlsx", EMPTY_STEM, row=n, qid=f"q{n}", field="题干") for n in range(2, 32)
    ]
    text = problems_text(translator("zh_CN"), "b.xlsx", problems)
    lines = text.splitlines()
    assert lines[0] == "b.xlsx 未导入，没有任何改动。共 30 处问题："
    assert lines[1] == "• b.xlsx，第 2 行，题目 q2，字段 题干：题干缺失或为空"
    assert len(lines) == 22 and lines[-1] == "……另有 10 处问题。"


def test_long_problems_still_fit_one_message() -> None:
    huge = "很" * 3000
    problems = [
        Problem("b.yaml", UNKNOWN_TYPE, {"value": huge}, line=n, qid="q" * 60) for n in range(20)
    ]
    text = problems_text(translator("en"), "b.yaml", problems)
    assert len(text) <= MessageLimit.MAX_TEXT_LENGTH
    assert text.endswith("more.")


def test_bank_line_with_campaign_and_retired() -> None:
    info = BankInfo(
        slug="cyber-security",
        title="网络安全常识",
        tags=[],
        active=False,
        campaign=Campaign("宣传月专项答题", dt.date(2026, 11, 1), dt.date(2026, 11, 30), 10),
        source_name="cyber-security.yaml",
        updated_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        counts={"single": 5, "multiple": 3, "judge": 0, "blank": 3},
        retired=2,
    )
    assert bank_line(translator("zh_CN"), info).splitlines() == [
        "• cyber-security 网络安全常识：11 题（单选 5、多选 3、填空 3）",
        "  专项答题「宣传月专项答题」，2026-11-01 至 2026-11-30，每次 10 题",
        "  已停用 2 题",
        "  不用于每日、每周答题",
    ]
    assert bank_line(translator("en"), info).splitlines()[0] == (
        "• cyber-security 网络安全常识: 11 questions (single choice 5, multiple choice 3, "
        "fill in the blank 3)"
    )
