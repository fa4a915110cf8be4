"""Every user-facing text in the code has a zh_CN translation, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir

from bot.i18n import catalog, resolve_locale, translator

PACKAGE = Path(__file__).resolve().parent.parent / "bot"
PLACEHOLDER = re.compile(r"\{(\w+)(?:[:!][^}]*)?\}")


def extracted_messages() -> dict[str, str]:
    found: dict[str, str] = {}
    keywords = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(PACKAGE), method_map=[("**.py", "python")], keywords=keywords
    ):
        text = message if isinstance(message, str) else message[0]
        if text:
            found[text] = f"{filename}:{lineno}"
    return found


def test_there_are_messages_to_check() -> None:
    assert len(extracted_messages()) > 50


def test_every_message_has_a_chinese_translation() -> None:
    zh = catalog("zh_CN")
    missing = [
        f"{where}: {text!r}" for text, where in extracted_messages().items() if text not in zh
    ]
    assert not missing, "untranslated:\n" + "\n".join(missing)


def test_translations_keep_the_placeholders() -> None:
    zh = catalog("zh_CN")
    wrong = []
    for text in extracted_messages():
        if text in zh and set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(zh[text])):
            wrong.append(f"{text!r} -> {zh[text]!r}")
    assert not wrong, "\n".join(wrong)


def test_locale_resolution() -> None:
    assert resolve_locale("zh-hans", "en") == "zh_CN"
    assert resolve_locale("en-US", "zh_CN") == "en"
    assert resolve_locale("de", "en") == "en"
    assert resolve_locale(None, "zh_CN") == "zh_CN"
    assert translator("en")("Hello, {name}. You can:", name="Li") == "Hello, Li. You can:"
    assert translator("zh_CN")("Hello, {name}. You can:", name="李") == "李，你好。你可以："
