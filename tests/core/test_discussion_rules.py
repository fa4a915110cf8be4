"""The counting rule of topic discussions and the length of reflections."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.discussion_rules import (
    normalise,
    reflection_length,
    reply_counts,
    substantive_length,
    substantive_text,
)

MIN = 10


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "+1",
        "＋１",
        "+1 +1 +1 +1 +1 +1 +1 +1",
        "1",
        "1111111111111",
        "同意",
        "同意！！！！！！！！！！",
        "同意同意同意同意同意同意",
        "赞",
        "赞赞赞赞赞赞赞赞赞赞赞赞",
        "顶",
        "顶顶顶顶顶顶顶顶顶顶",
        "同意 赞 顶 支持 附议 +1",
        "学习了学习了学习了学习了",
        "👍",
        "👍👍👍👍👍👍👍👍👍👍👍👍",
        "👍🏻👍🏽👍🏿💯💯💯🎉🎉🎉🔥🔥",
        "👨‍👩‍👧‍👦👨‍👩‍👧‍👦👨‍👩‍👧‍👦",
        "1️⃣2️⃣3️⃣",
        "哈哈哈哈哈哈哈哈哈哈哈哈哈哈",
        "666666666666666",
        "。。。。。。。。。。。。",
        "OK OK OK OK OK OK",
        "ｏｋ！",
        "https://example.com/a-very-long-path-with-many-letters",
        "@somebody_with_a_long_username 好的",
        "好好好好好好好好好好好好好好",
    ],
)
def test_agreement_emoji_and_noise_never_count(text: str) -> None:
    assert reply_counts(text, MIN) is False


@pytest.mark.parametrize(
    "text",
    [
        "我认为保密工作非常重要",
        "这次学习让我深刻认识到宪法的重要性。",
        "同意，我认为要加强保密教育和日常检查",
        "👍 学习宪法，要做到知法、守法、用法",
        "+1，另外建议每月组织一次保密自查",
        "ＡＢＣＤＥＦＧＨＩＪ",  # full-width letters count like half-width ones
        "I agree, and we should review it monthly",
        "好好学习，天天向上，争做先锋",  # a doubled character (叠词) is not a repetition
    ],
)
def test_substantial_replies_count(text: str) -> None:
    assert reply_counts(text, MIN) is True


def test_length_is_measured_after_stripping() -> None:
    assert substantive_text("我认为，保密！！很重要🔥🔥") == "我认为保密很重要"
    assert substantive_length("我认为，保密！！很重要🔥🔥") == 8
    # the same reply padded with emoji, punctuation and spaces is no longer
    assert substantive_length("保密很重要") == substantive_length("  保密 很重要！！👍👍👍 ")


def test_exactly_min_chars_counts() -> None:
    assert reply_counts("一二三四五六七八九十", 10) is True
    assert reply_counts("一二三四五六七八九", 10) is False
    assert reply_counts("一二三四五六七八九。", 10) is False


def test_full_width_text_is_normalised() -> None:
    assert normalise("ＡＢＣ１２３") == "abc123"
    assert substantive_text("＋１ 说得对") == "说得对"
    assert substantive_length("ＡＢＣＤＥ") == substantive_length("ABCDE") == 5


def test_repeated_units_shrink_to_one() -> None:
    assert substantive_text("学习学习学习学习") == "学习"
    assert substantive_text("哈哈哈哈，真好") == "哈真好"
    assert substantive_text("好好学习") == "好好学习"
    assert substantive_length("重要重要重要重要重要重要重要重要重要重要") == 2


def test_a_missing_text_or_min_chars_below_one() -> None:
    assert reply_counts(None, 10) is False
    assert reply_counts("字", 0) is True  # a minimum below 1 behaves as 1
    assert reply_counts("", 0) is False


@given(st.text(max_size=400), st.integers(min_value=-5, max_value=200))
def test_never_crashes_and_answers_a_bool(text: str, min_chars: int) -> None:
    result = reply_counts(text, min_chars)
    assert isinstance(result, bool)
    assert 0 <= substantive_length(text) <= len(normalise(text))


@given(st.text(max_size=200))
def test_emoji_and_spaces_around_a_reply_change_nothing(text: str) -> None:
    padded = "👍🎉 " + text + " 🔥💯。"
    if substantive_text(text) and not text[-1:].isalnum():
        assert substantive_length(padded) == substantive_length(text)


@given(st.lists(st.sampled_from(["同意", "赞", "顶", "+1", "＋１", "1", " ", "👍", "！", "。"])))
def test_agreement_words_alone_never_count(parts: list[str]) -> None:
    assert reply_counts("".join(parts), 1) is False


def test_reflection_length_ignores_white_space() -> None:
    assert reflection_length("学习 心得\n\n\t体会") == 6
    assert reflection_length("  \u200b\u3000 ") == 0  # zero-width and ideographic spaces
    assert reflection_length(None) == 0
    assert reflection_length("ＡＢＣ！") == 4


@given(st.text(max_size=300))
def test_reflection_length_never_exceeds_the_text(text: str) -> None:
    assert 0 <= reflection_length(text) <= len(text)
