"""Translations: English message ids, zh_CN catalogs in ``bot/locales`` (gettext .po files).

Each feature keeps its own ``.po`` file; all files of a language merge into one catalog.
Catalogs are read with Babel at start-up, so no compile step is needed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
SUPPORTED = ("zh_CN", "en")


def N_(message: str) -> str:
    """Mark a string for extraction without translating it (module-level texts)."""
    return message


@functools.cache
def catalog(locale: str) -> dict[str, str]:
    """All translations of ``locale`` merged from every .po file (fuzzy entries excluded)."""
    merged: dict[str, str] = {}
    folder = LOCALES_DIR / locale / "LC_MESSAGES"
    if not folder.is_dir():
        return merged
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as handle:
            po = read_po(handle, locale=locale)
        for message in po:
            if not message.id or message.fuzzy or not message.string:
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            value = message.string if isinstance(message.string, str) else message.string[0]
            merged[key] = value
    return merged


def resolve_locale(language_code: str | None, default: str) -> str:
    """Telegram's language_code (``zh-hans``, ``en-US``…) → a supported locale."""
    if language_code:
        code = language_code.lower()
        if code.startswith("zh"):
            return "zh_CN"
        if code.startswith("en"):
            return "en"
    return default if default in SUPPORTED else "zh_CN"


class Translator:
    """gettext for one locale; ``_`` is the conventional short name in callers."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in SUPPORTED else "zh_CN"
        self._catalog = catalog(self.locale) if self.locale != "en" else {}

    def gettext(self, message: str) -> str:
        return self._catalog.get(message, message)

    def __call__(self, message: str, **kwargs: object) -> str:
        text = self.gettext(message)
        return text.format(**kwargs) if kwargs else text

    @property
    def is_zh(self) -> bool:
        return self.locale == "zh_CN"


@functools.cache
def translator(locale: str) -> Translator:
    return Translator(locale)


Gettext = Callable[..., str]
