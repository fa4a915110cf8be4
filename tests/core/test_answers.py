"""Answer checking and blank normalisation (pure functions)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import answers as check

PUNCT = "，。、；：？！“”‘’（）《》【】—…·,.;:?!\"'()[]-"


def to_fullwidth(text: str) -> str:
    """ASCII → the full-width forms a Chinese input method types."""
    out = []
    for char in text:
        code = ord(char)
        if char == " ":
            out.append("\u3000")
        elif 0x21 <= code <= 0x7E:
            out.append(chr(code + 0xFEE0))
        else:
            out.append(char)
    return "".join(out)


# --- blanks ---------------------------------------------------------------------------------


def test_examples_of_normalisation() -> None:
    assert check.normalise_blank("１９８２") == "1982"
    assert check.normalise_blank(" 1982 。") == "1982"
    assert check.normalise_blank("ＰＤＦ格式") == "pdf格式"
    assert check.normalise_blank("《宪法》") == "宪法"
    assert check.normalise_blank("Hello,  World!") == "helloworld"
    assert (
        check.normalise_blank("习近平新时代中国特色社会主义思想")
        == "习近平新时代中国特色社会主义思想"
    )
    assert check.normalise_blank("“两个确立”") == "两个确立"


def test_blank_accepts_any_variant() -> None:
    variants = ["20", "二十", "20年", "二十年"]
    assert check.check_blank("２０", variants)
    assert check.check_blank("二十年。", variants)
    assert check.check_blank(" 20 年 ", variants)
    assert not check.check_blank("30", variants)
    assert not check.check_blank("", variants)
    assert not check.check_blank("   ", variants)
    assert not check.check_blank("。。", variants)


def test_punctuation_only_answers_are_not_all_equal() -> None:
    assert check.normalise_blank("。") != check.normalise_blank("！")
    assert not check.check_blank("。", ["！"])


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1))
def test_fullwidth_equals_halfwidth(text: str) -> None:
    assert check.normalise_blank(to_fullwidth(text)) == check.normalise_blank(text)


@given(st.text(min_size=1, max_size=30), st.text(alphabet=PUNCT + " \t\u3000", max_size=5))
def test_punctuation_and_spaces_around_do_not_matter(text: str, noise: str) -> None:
    core = check.normalise_blank(text)
    if not core or any(check.is_ignored(c) for c in core):
        return  # only punctuation: compared as typed, see the test below
    assert check.normalise_blank(noise + text + noise) == core


@given(st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll")), min_size=1))
def test_case_does_not_matter(text: str) -> None:
    assert check.check_blank(text.upper(), [text.lower()]) == check.check_blank(
        text.lower(), [text.upper()]
    )
    assert check.normalise_blank(text.upper()) == check.normalise_blank(text.upper().lower())


@given(st.text(min_size=1, max_size=40))
def test_normalisation_is_idempotent(text: str) -> None:
    once = check.normalise_blank(text)
    assert check.normalise_blank(once) == once


@given(st.text(min_size=1, max_size=40))
def test_a_variant_always_matches_itself(text: str) -> None:
    if check.normalise_blank(text):
        assert check.check_blank(text, [text])
        assert check.check_blank(unicodedata.normalize("NFKC", text), [text])


# --- choices --------------------------------------------------------------------------------


def test_letters() -> None:
    assert check.letter(0) == "A"
    assert check.letter_index("c") == 2
    with pytest.raises(ValueError):
        check.letter_index("AB")
    with pytest.raises(ValueError):
        check.letter_index("1")


def test_option_order_is_deterministic_and_a_permutation() -> None:
    options = ["一", "二", "三", "四", "五"]
    first = check.option_order(42, options)
    assert first == check.option_order(42, options)
    assert sorted(first) == list(range(5))
    orders = {tuple(check.option_order(seed, options)) for seed in range(30)}
    assert len(orders) > 1


def test_positional_options_keep_their_order() -> None:
    options = ["甲", "乙", "丙", "以上都对"]
    assert all(check.option_order(seed, options) == [0, 1, 2, 3] for seed in range(20))
    assert check.option_order(7, ["a", "b"], shuffle=False) == [0, 1]


@given(st.integers(0, 2**31 - 1), st.integers(2, 10), st.data())
def test_choice_check_follows_the_shuffle(seed: int, n: int, data: st.DataObject) -> None:
    options = [f"option {i}" for i in range(n)]
    order = check.option_order(seed, options)
    answer_idx = data.draw(st.sets(st.integers(0, n - 1), min_size=1))
    answer = sorted(check.letter(i) for i in answer_idx)
    # The member presses the shown positions of the right originals.
    shown_right = [order.index(i) for i in answer_idx]
    assert check.check_choice(shown_right, order, answer)
    assert check.shown_letters_of(answer, order) == sorted(check.letter(i) for i in shown_right)
    # Any other non-empty set is wrong.
    other = data.draw(st.sets(st.integers(0, n - 1), min_size=1))
    assert check.check_choice(other, order, answer) == (set(other) == set(shown_right))


def test_choice_check_examples() -> None:
    order = [2, 0, 1, 3]  # shown A is original C, shown B is original A …
    assert check.check_choice([1], order, ["A"])
    assert not check.check_choice([0], order, ["A"])
    assert check.check_choice([0, 1], order, ["A", "C"])
    assert not check.check_choice([0], order, ["A", "C"])
    assert not check.check_choice([], order, ["A"])
    assert check.original_letters_of([0, 3], order) == ["C", "D"]
    assert check.correct_lines("multiple", ["A", "C"], order, ["w", "x", "y", "z"]) == [
        "A. y",
        "B. w",
    ]
    assert check.correct_lines("blank", ["1982", "1982年"], [], []) == ["1982"]


def test_judge() -> None:
    assert check.check_judge(True, [True])
    assert check.check_judge(False, [False])
    assert not check.check_judge(True, [False])
    assert not check.check_judge(True, [])
