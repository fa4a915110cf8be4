"""Parse modes must turn markup into text and entities, and refuse what Telegram refuses."""

from __future__ import annotations

import pytest

from tests.fakebot.markup import EntityParseError, command_entity, format_text, utf16_len


def test_html_entities_use_utf16_offsets() -> None:
    text, ents = format_text(
        '👍 <b>积分</b> <a href="https://x.org/a?b=1&amp;c=2">链接</a>', "HTML"
    )
    assert text == "👍 积分 链接"
    assert ents == [
        {"type": "bold", "offset": 3, "length": 2},
        {"type": "text_link", "offset": 6, "length": 2, "url": "https://x.org/a?b=1&c=2"},
    ]
    assert utf16_len("👍") == 2


def test_html_nesting_pre_language_spoiler_and_escapes() -> None:
    text, ents = format_text(
        '<pre><code class="language-python">x &lt; 1</code></pre>'
        '<span class="tg-spoiler">s</span><i><u>iu</u></i>&#20320;',
        "html",
    )
    assert text == "x < 1siu你"
    assert {"type": "pre", "offset": 0, "length": 5, "language": "python"} in ents
    assert {"type": "spoiler", "offset": 5, "length": 1} in ents
    assert {"type": "italic", "offset": 6, "length": 2} in ents
    assert {"type": "underline", "offset": 6, "length": 2} in ents


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("x<br>", 'Unsupported start tag "br" at byte offset 1'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("bold</b>", "Unexpected end tag at byte offset 4"),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b", "Unclosed start tag at byte offset 0"),
    ],
)
def test_html_errors(markup: str, error: str) -> None:
    with pytest.raises(EntityParseError) as info:
        format_text(markup, "HTML")
    assert str(info.value) == error


def test_markdown_v2() -> None:
    text, ents = format_text(
        r"*第 1 题* _斜_ __下__ ~删~ ||藏|| `c\`` [链](https://x.org/\)) 1\.5", "MarkdownV2"
    )
    assert text == "第 1 题 斜 下 删 藏 c` 链 1.5"
    types = [e["type"] for e in ents]
    assert types == ["bold", "italic", "underline", "strikethrough", "spoiler", "code", "text_link"]
    assert ents[-1]["url"] == "https://x.org/)"
    code = format_text("```python\nprint(1)\n```", "MarkdownV2")
    assert code == ("print(1)\n", [{"type": "pre", "offset": 0, "length": 9, "language": "python"}])


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("Done.", "Character '.' is reserved and must be escaped with the preceding '\\'"),
        ("a-b", "Character '-' is reserved and must be escaped with the preceding '\\'"),
        ("*bold", "Can't find end of Bold entity at byte offset 0"),
        ("x `code", "Can't find end of Code entity at byte offset 2"),
    ],
)
def test_markdown_v2_errors(markup: str, error: str) -> None:
    with pytest.raises(EntityParseError) as info:
        format_text(markup, "MarkdownV2")
    assert str(info.value) == error


def test_legacy_markdown() -> None:
    assert format_text("*b* _i_ `c` [l](http://x.org) a-b.", "Markdown") == (
        "b i c l a-b.",
        [
            {"type": "bold", "offset": 0, "length": 1},
            {"type": "italic", "offset": 2, "length": 1},
            {"type": "code", "offset": 4, "length": 1},
            {"type": "text_link", "offset": 6, "length": 1, "url": "http://x.org"},
        ],
    )
    with pytest.raises(EntityParseError, match=r"Can't find end of the entity starting at byte"):
        format_text("snake_case", "Markdown")


def test_explicit_entities_win_and_plain_text_untouched() -> None:
    ents = [{"type": "bold", "offset": 0, "length": 1}]
    assert format_text("<b>", "HTML", ents) == ("<b>", ents)
    assert format_text("a < b. *", None) == ("a < b. *", [])


def test_command_entity() -> None:
    assert command_entity("/start ci_1") == {"type": "bot_command", "offset": 0, "length": 6}
    assert command_entity("/quiz@studybot_test_bot") == {
        "type": "bot_command",
        "offset": 0,
        "length": 23,
    }
    assert command_entity("/ nothing") is None
    assert command_entity("hello /start") is None
