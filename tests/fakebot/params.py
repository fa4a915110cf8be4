"""Reading Bot API request parameters the way Telegram's server reads them.

python-telegram-bot sends form-encoded bodies in which every value is a string and nested
values (``reply_markup``, ``allowed_updates``, ...) are JSON text; other clients send JSON
bodies or query strings. The server is typed per parameter, so the decoding here is by name:
a ``text`` of ``"123"`` stays a string while a ``chat_id`` of ``"123"`` becomes a number.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import ApiError

__all__ = ["decode_params"]

JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "allowed_updates",
        "commands",
        "options",
        "entities",
        "caption_entities",
        "explanation_entities",
        "question_entities",
        "description_entities",
        "text_entities",
        "scope",
        "reply_parameters",
        "link_preview_options",
        "menu_button",
        "correct_option_ids",
        "media",
        "country_codes",
        "permissions",
        "rights",
        "results",
        "reaction",
        "message_ids",
        "suggested_post_parameters",
        "explanation_media",
        "button",
        "prices",
    }
)

INT_FIELDS = frozenset(
    {
        "offset",
        "limit",
        "timeout",
        "message_id",
        "user_id",
        "from_chat_id",
        "reply_to_message_id",
        "message_thread_id",
        "open_period",
        "close_date",
        "correct_option_id",
        "cache_time",
        "max_connections",
        "until_date",
        "duration",
        "width",
        "height",
        "length",
        "direct_messages_topic_id",
    }
)

BOOL_FIELDS = frozenset(
    {
        "is_anonymous",
        "allows_multiple_answers",
        "is_closed",
        "show_alert",
        "disable_notification",
        "protect_content",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "has_spoiler",
        "revoke_messages",
        "only_if_banned",
        "allow_paid_broadcast",
        "allows_revoting",
        "allow_adding_options",
        "hide_results_until_closes",
        "shuffle_options",
        "members_only",
        "for_channels",
        "supports_streaming",
        "show_caption_above_media",
        "is_big",
    }
)

# chat identifiers are "Integer or String" (@channelusername)
CHAT_ID_FIELDS = frozenset({"chat_id", "from_chat_id"})

_INT_RE = re.compile(r"-?\d+")


def _decode_json(name: str, value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        if name == "reply_markup":
            description = "Bad Request: can't parse reply keyboard markup JSON object"
        elif name in ("entities", "caption_entities"):
            description = "Bad Request: can't parse entities JSON object"
        else:
            description = f"Bad Request: can't parse {name} JSON object"
        raise ApiError(400, description) from None


def _decode_one(name: str, value: Any) -> Any:
    if name in JSON_FIELDS:
        if isinstance(value, str):
            return _decode_json(name, value)
        return value
    if name in CHAT_ID_FIELDS:
        if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
            return int(value)
        return value
    if name in INT_FIELDS:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str):
            if _INT_RE.fullmatch(value.strip()):
                return int(value)
            if value.strip() == "":
                return None
            try:
                return int(float(value))
            except ValueError:
                raise ApiError(400, f"Bad Request: invalid {name} specified") from None
        if isinstance(value, float):
            return int(value)
        return value
    if name in BOOL_FIELDS:
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)
    return value


def decode_params(raw: dict[str, Any]) -> dict[str, Any]:
    """Decode raw request values to the types the Bot API gives each parameter."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            continue
        decoded = _decode_one(name, value)
        if decoded is not None:
            out[name] = decoded
    return out
