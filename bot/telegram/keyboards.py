"""Conversion of the service-level Button rows into python-telegram-bot markup or Bot API JSON."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.sending import Keyboard


def markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    if not keyboard:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.text, url=b.url)
                if b.url
                else InlineKeyboardButton(b.text, callback_data=b.data)
                for b in row
            ]
            for row in keyboard
        ]
    )


def keyboard_json(keyboard: Keyboard | None) -> dict[str, Any] | None:
    """The same keyboard as the Bot API's ``reply_markup`` object (for plain calls, see
    ``bot.telegram.common.call``)."""
    if not keyboard:
        return None
    return {
        "inline_keyboard": [
            [
                {"text": b.text, "url": b.url}
                if b.url
                else {"text": b.text, "callback_data": b.data}
                for b in row
            ]
            for row in keyboard
        ]
    }
