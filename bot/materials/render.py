"""How a study item looks in chat: the message text and its buttons.

Shared by the scheduled push, ``/study`` and the plan validation (which checks that every
item fits in one Telegram message before it is ever sent).
"""

from __future__ import annotations

import datetime as dt
import html

from bot.i18n import Translator
from bot.sending import Button, Keyboard

MESSAGE_LIMIT = 4096  # Telegram's limit for a text message, in UTF-16 code units


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def occurrence_key(occurrence: dt.datetime) -> int:
    """An occurrence as whole seconds since the epoch (short enough for callback data)."""
    return int(occurrence.timestamp())


def occurrence_from_key(key: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(key, dt.UTC)


def done_data(item_id: int, occurrence: dt.datetime) -> str:
    return f"m:d:{item_id}:{occurrence_key(occurrence)}"


def open_data(item_id: int, occurrence: dt.datetime) -> str:
    return f"m:o:{item_id}:{occurrence_key(occurrence)}"


def quiz_data(item_id: int, occurrence: dt.datetime) -> str:
    return f"m:q:{item_id}:{occurrence_key(occurrence)}"


def item_text(
    _: Translator, *, title: str, body: str, url: str | None, points: int, html_mode: bool = True
) -> str:
    """The pushed message. With ``html_mode`` the title is bold and user text is escaped."""
    esc = html.escape if html_mode else (lambda s: s)
    heading = f"<b>{esc(title)}</b>" if html_mode else title
    parts = [f"📖 {heading}"]
    if body.strip():
        parts.append(esc(body.strip()))
    if url:
        parts.append(f"🔗 {esc(url)}")
    if points > 0:
        parts.append(_("After reading, press “Done” to earn {points} point(s).", points=points))
    else:
        parts.append(_("After reading, press “Done”."))
    return "\n\n".join(parts)


def item_keyboard(
    _: Translator, item_id: int, occurrence: dt.datetime, *, quiz: bool, read: bool = False
) -> Keyboard:
    row: list[Button] = []
    if not read:
        row.append(Button(_("Done"), data=done_data(item_id, occurrence)))
    if quiz:
        row.append(Button(_("Take the quiz"), data=quiz_data(item_id, occurrence)))
    return [row] if row else []


def plain_length(tr: Translator, *, title: str, body: str, url: str | None, points: int) -> int:
    """The length Telegram counts (entities removed) of the pushed message."""
    return utf16_length(
        item_text(tr, title=title, body=body, url=url, points=points, html_mode=False)
    )
