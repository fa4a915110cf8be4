"""Text formatting as the Bot API applies it: parse modes, entities and UTF-16 lengths.

Telegram turns ``parse_mode`` markup into plain text plus entities, and refuses malformed
markup with ``Bad Request: can't parse entities: ...``. A bot that interpolates user input
into HTML or MarkdownV2 without escaping fails only in production unless the test server
refuses the same input, so these parsers follow TDLib's rules and error texts closely.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "EntityParseError",
    "command_entity",
    "format_text",
    "utf16_len",
]


class EntityParseError(ValueError):
    """Malformed markup; ``str(exc)`` is the Bot API description without the prefix."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of entity offsets and lengths."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def command_entity(text: str) -> dict[str, Any] | None:
    """The ``bot_command`` entity Telegram attaches to a text starting with ``/``."""
    if not text.startswith("/"):
        return None
    token = re.split(r"\s", text, maxsplit=1)[0]
    name = token[1:].split("@", 1)[0]
    if not name or not re.fullmatch(r"[A-Za-z0-9_]{1,64}", name):
        return None
    return {"type": "bot_command", "offset": 0, "length": utf16_len(token)}


def format_text(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Return ``(plain_text, entities)`` as Telegram stores a formatted text.

    Explicit ``entities`` win over ``parse_mode``, as in the Bot API.
    """
    if entities:
        return text, [dict(e) for e in entities]
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return text, []
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text)
    if mode == "markdown":
        return _parse_markdown(text)
    raise EntityParseError(f"Unsupported parse_mode {parse_mode!r}")


class _Builder:
    """Accumulates plain text while tracking UTF-16 offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0
        self.entities: list[dict[str, Any]] = []

    def add(self, s: str) -> None:
        self.parts.append(s)
        self.offset += utf16_len(s)

    def entity(self, etype: str, start: int, **extra: Any) -> None:
        length = self.offset - start
        if length <= 0:
            return
        ent: dict[str, Any] = {"type": etype, "offset": start, "length": length}
        ent.update({k: v for k, v in extra.items() if v is not None})
        self.entities.append(ent)

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        ents = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), ents


# --------------------------------------------------------------------------- HTML

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);")


def _parse_html(src: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    stack: list[dict[str, Any]] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "&":
            m = _ENTITY_RE.match(src, i)
            if m:
                ref = m.group(1)
                ch: str | None = None
                if ref.startswith("#x"):
                    ch = chr(int(ref[2:], 16))
                elif ref.startswith("#"):
                    ch = chr(int(ref[1:]))
                else:
                    ch = _NAMED_ENTITIES.get(ref)
                if ch is not None:
                    out.add(ch)
                    i = m.end()
                    continue
            out.add("&")
            i += 1
            continue
        if c != "<":
            j = i
            while j < n and src[j] not in "<&":
                j += 1
            out.add(src[i:j])
            i = j
            continue
        begin = _byte_offset(src, i)
        if i + 1 < n and src[i + 1] == "/":
            end = src.find(">", i)
            if end == -1:
                raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
            name = src[i + 2 : end].strip().lower()
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
            top = stack[-1]
            if name != top["tag"]:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {begin}, expected "</{top["tag"]}>", '
                    f'found "</{name}>"'
                )
            stack.pop()
            _close_html(out, top, stack)
            i = end + 1
            continue
        j = i + 1
        while j < n and (src[j].isalnum() or src[j] == "-"):
            j += 1
        name = src[i + 1 : j].lower()
        if name not in _HTML_TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {begin}')
        attrs: dict[str, str] = {}
        while True:
            while j < n and src[j].isspace():
                j += 1
            if j >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            if src[j] == ">":
                j += 1
                break
            k = j
            while k < n and (src[k].isalnum() or src[k] in "-_"):
                k += 1
            if k == j:
                raise EntityParseError(f"Empty attribute name in the tag at byte offset {begin}")
            attr = src[j:k].lower()
            while k < n and src[k].isspace():
                k += 1
            value = ""
            if k < n and src[k] == "=":
                k += 1
                while k < n and src[k].isspace():
                    k += 1
                if k >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                if src[k] in "\"'":
                    quote = src[k]
                    end = src.find(quote, k + 1)
                    if end == -1:
                        raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                    value = src[k + 1 : end]
                    k = end + 1
                else:
                    m = re.match(r"[^\s>]*", src[k:])
                    value = m.group(0) if m else ""
                    k += len(value)
                value = _ENTITY_RE.sub(lambda m: _NAMED_ENTITIES.get(m.group(1), m.group(0)), value)
            attrs[attr] = value
            j = k
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {begin}'
            )
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise EntityParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {begin}'
            )
        stack.append({"tag": name, "start": out.offset, "attrs": attrs})
        i = j
    if stack:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1]["tag"]}"'
        )
    return out.result()


def _close_html(out: _Builder, item: dict[str, Any], stack: list[dict[str, Any]]) -> None:
    tag, start, attrs = item["tag"], item["start"], item["attrs"]
    etype = _HTML_TAGS[tag]
    if etype == "text_link":
        href = attrs.get("href", "")
        m = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if m:
            out.entity(
                "text_mention",
                start,
                user={"id": int(m.group(1)), "is_bot": False, "first_name": ""},
            )
        elif href:
            out.entity("text_link", start, url=href)
        return
    if etype == "code":
        parent = stack[-1] if stack else None
        lang = attrs.get("class", "")
        if parent is not None and parent["tag"] == "pre" and lang.startswith("language-"):
            parent["attrs"]["_language"] = lang[len("language-") :]
            return
        out.entity("code", start)
        return
    if etype == "pre":
        out.entity("pre", start, language=attrs.get("_language"))
        return
    if etype == "blockquote":
        out.entity("expandable_blockquote" if "expandable" in attrs else "blockquote", start)
        return
    if etype == "custom_emoji":
        out.entity("custom_emoji", start, custom_emoji_id=attrs.get("emoji-id"))
        return
    out.entity(etype, start)


# ---------------------------------------------------------------------- MarkdownV2

_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def _parse_markdown_v2(src: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    stack: list[dict[str, Any]] = []
    i, n = 0, len(src)

    def open_types() -> list[str]:
        return [s["type"] for s in stack]

    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n and 0 < ord(src[i + 1]) <= 126:
            out.add(src[i + 1])
            i += 2
            continue
        in_code = bool(stack) and stack[-1]["type"] in ("code", "pre")
        if in_code:
            top = stack[-1]
            if top["type"] == "pre" and src.startswith("```", i):
                stack.pop()
                out.entity("pre", top["start"], language=top.get("language"))
                i += 3
                continue
            if top["type"] == "code" and c == "`":
                stack.pop()
                out.entity("code", top["start"])
                i += 1
                continue
            out.add(c)
            i += 1
            continue
        begin = _byte_offset(src, i)
        if src.startswith("```", i):
            j = i + 3
            nl = src.find("\n", j)
            language = None
            if nl != -1 and re.fullmatch(r"[A-Za-z0-9_+#.-]*", src[j:nl]):
                language = src[j:nl] or None
                j = nl + 1
            stack.append({"type": "pre", "start": out.offset, "byte": begin, "language": language})
            i = j
            continue
        if c == "`":
            stack.append({"type": "code", "start": out.offset, "byte": begin})
            i += 1
            continue
        marker: str | None = None
        etype: str | None = None
        if src.startswith("||", i):
            marker, etype = "||", "spoiler"
        elif src.startswith("__", i) and "italic" not in open_types()[-1:]:
            marker, etype = "__", "underline"
        elif c == "_":
            marker, etype = "_", "italic"
        elif c == "*":
            marker, etype = "*", "bold"
        elif c == "~":
            marker, etype = "~", "strikethrough"
        if marker is not None and etype is not None:
            if stack and stack[-1]["type"] == etype:
                top = stack.pop()
                out.entity(etype, top["start"])
            elif etype in open_types():
                raise EntityParseError(
                    f"Can't find end of {_MDV2_NAMES[stack[-1]['type']]} entity at byte "
                    f"offset {stack[-1]['byte']}"
                )
            else:
                stack.append({"type": etype, "start": out.offset, "byte": begin})
            i += len(marker)
            continue
        if c == "!" and i + 1 < n and src[i + 1] == "[":
            stack.append({"type": "custom_emoji", "start": out.offset, "byte": begin})
            i += 2
            continue
        if c == "[":
            stack.append({"type": "text_link", "start": out.offset, "byte": begin})
            i += 1
            continue
        if c == "]" and stack and stack[-1]["type"] in ("text_link", "custom_emoji"):
            top = stack.pop()
            if i + 1 >= n or src[i + 1] != "(":
                raise EntityParseError(
                    f"Can't find end of {_MDV2_NAMES[top['type']]} entity at byte offset "
                    f"{top['byte']}"
                )
            j = i + 2
            url_chars: list[str] = []
            while j < n and src[j] != ")":
                if src[j] == "\\" and j + 1 < n:
                    url_chars.append(src[j + 1])
                    j += 2
                    continue
                url_chars.append(src[j])
                j += 1
            if j >= n:
                raise EntityParseError(f"Can't find end of a URL at byte offset {begin + 2}")
            url = "".join(url_chars)
            if top["type"] == "custom_emoji":
                m = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
                if not m:
                    raise EntityParseError("Custom emoji URL must have an emoji identifier")
                out.entity("custom_emoji", top["start"], custom_emoji_id=m.group(1))
            else:
                out.entity("text_link", top["start"], url=url)
            i = j + 1
            continue
        if c == ">" and (i == 0 or src[i - 1] == "\n"):
            # Block quotation: a line prefix; the quote itself is not tracked as an entity.
            i += 1
            continue
        if c in _MDV2_RESERVED:
            raise EntityParseError(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
            )
        out.add(c)
        i += 1
    if stack:
        top = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[top['type']]} entity at byte offset {top['byte']}"
        )
    return out.result()


# ---------------------------------------------------------------- legacy Markdown


def _parse_markdown(src: str) -> tuple[str, list[dict[str, Any]]]:
    out = _Builder()
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n and src[i + 1] in "_*`[":
            out.add(src[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.add(c)
            i += 1
            continue
        begin = _byte_offset(src, i)
        if src.startswith("```", i):
            end = src.find("```", i + 3)
            if end == -1:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {begin}"
                )
            body = src[i + 3 : end]
            language = None
            nl = body.find("\n")
            if nl != -1 and re.fullmatch(r"[A-Za-z0-9_+#.-]+", body[:nl]):
                language, body = body[:nl], body[nl + 1 :]
            start = out.offset
            out.add(body)
            out.entity("pre", start, language=language)
            i = end + 3
            continue
        if c == "[":
            end = src.find("]", i + 1)
            if end == -1:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {begin}"
                )
            label = src[i + 1 : end]
            url = None
            j = end + 1
            if j < n and src[j] == "(":
                close = src.find(")", j)
                if close != -1:
                    url = src[j + 1 : close]
                    j = close + 1
            start = out.offset
            out.add(label)
            if url:
                out.entity("text_link", start, url=url)
            i = j
            continue
        end = src.find(c, i + 1)
        if end == -1:
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {begin}")
        start = out.offset
        out.add(src[i + 1 : end])
        out.entity({"_": "italic", "*": "bold", "`": "code"}[c], start)
        i = end + 1
    return out.result()
