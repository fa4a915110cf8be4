"""Document uploads in private chat: size and type checks, then routing by caption.

``DOCUMENT_ROUTES`` maps a caption command (``/roster``, ``/plan``) to its importer; the
empty caption imports a question bank. Only admins may upload.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import PurePath
from typing import Any

from telegram import Update

from bot.telegram.common import reply, requires
from bot.telegram.context import StudyContext

DocumentRoute = Callable[[Update, StudyContext, str, bytes], Awaitable[Any]]
DOCUMENT_ROUTES: dict[str, DocumentRoute] = {}
ALLOWED_SUFFIXES = {".yaml", ".yml", ".csv", ".xlsx"}


@requires("admin", private_only=True)
async def handle_document(update: Update, context: StudyContext) -> None:
    _ = context.tr
    message = update.effective_message
    if message is None or message.document is None:
        return
    document = message.document
    filename = document.file_name or "upload"
    suffix = PurePath(filename).suffix.lower()
    caption = (message.caption or "").strip().split()
    route_key = caption[0].split("@")[0].lower() if caption and caption[0].startswith("/") else ""
    if route_key not in DOCUMENT_ROUTES:
        await reply(
            update,
            context,
            _(
                "I don't know what to do with a file captioned {caption}. Send a bank without a "
                "caption, or use the caption /roster or /plan.",
                caption=route_key or "—",
            ),
        )
        return
    if suffix not in ALLOWED_SUFFIXES:
        await reply(
            update,
            context,
            _(
                "{name}: unsupported file type; send a .yaml, .yml, .csv or .xlsx file.",
                name=filename,
            ),
        )
        return
    limit = context.config.uploads.max_bytes
    if document.file_size is not None and document.file_size > limit:
        await reply(
            update,
            context,
            _(
                "{name} is {size:.1f} MB, over the {limit:g} MB limit; nothing was imported.",
                name=filename,
                size=document.file_size / 1048576,
                limit=context.config.uploads.max_mb,
            ),
        )
        return
    telegram_file = await document.get_file()
    content = bytes(await telegram_file.download_as_bytearray())
    if len(content) > limit:
        await reply(
            update,
            context,
            _(
                "{name} is {size:.1f} MB, over the {limit:g} MB limit; nothing was imported.",
                name=filename,
                size=len(content) / 1048576,
                limit=context.config.uploads.max_mb,
            ),
        )
        return
    await DOCUMENT_ROUTES[route_key](update, context, filename, content)
