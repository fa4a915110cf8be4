"""Update processing: concurrent across chats, in order within one chat, each update once.

Updates of one chat (or one user, for poll answers) run one after another, so a member's
quick double press is handled in order; different members run concurrently. An update that
was already handled to the end (recorded in ``processed_updates``) is skipped, which makes a
redelivery after a crash harmless. Each update gets one structured log line.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.db.models import ProcessedUpdate
from bot.db.types import utcnow
from bot.db.upsert import insert_or_ignore

log = logging.getLogger("studybot.updates")


def update_kind(update: Update) -> str:
    if update.message:
        msg = update.message
        if msg.text and msg.text.startswith("/"):
            return "command:" + msg.text.split()[0].split("@")[0][1:40]
        if msg.document:
            return "document"
        return "message"
    for attr in (
        "callback_query",
        "poll_answer",
        "poll",
        "edited_message",
        "my_chat_member",
        "chat_member",
        "channel_post",
        "edited_channel_post",
        "message_reaction",
    ):
        if getattr(update, attr, None) is not None:
            return attr
    return "other"


def serial_key(update: Update) -> Any:
    if update.effective_chat is not None:
        return ("chat", update.effective_chat.id)
    if update.effective_user is not None:
        return ("user", update.effective_user.id)
    return None


class OrderedUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int, db: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(max_concurrent_updates)
        self._db = db
        self._locks: weakref.WeakValueDictionary[Any, asyncio.Lock] = weakref.WeakValueDictionary()

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def _already_processed(self, update_id: int) -> bool:
        try:
            async with self._db() as session:
                found = await session.scalar(
                    select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id == update_id)
                )
                return found is not None
        except SQLAlchemyError:
            log.exception("cannot check update %s against processed updates", update_id)
            return False

    async def _mark_processed(self, update_id: int) -> None:
        try:
            async with self._db.begin() as session:
                await insert_or_ignore(
                    session, ProcessedUpdate, {"update_id": update_id, "processed_at": utcnow()}
                )
        except SQLAlchemyError:
            log.exception("cannot record update %s as processed", update_id)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update):
            await coroutine
            return
        key = serial_key(update)
        lock = None
        if key is not None:
            lock = self._locks.get(key)
            if lock is None:
                lock = asyncio.Lock()
                self._locks[key] = lock
        started = time.perf_counter()
        if lock is not None:
            await lock.acquire()
        try:
            if await self._already_processed(update.update_id):
                close = getattr(coroutine, "close", None)
                if close is not None:
                    close()
                log.info(
                    "update=%s kind=%s skipped=redelivered", update.update_id, update_kind(update)
                )
                return
            status = "ok"
            try:
                await coroutine
            except Exception:
                status = "error"
                raise
            finally:
                if status == "ok":
                    await self._mark_processed(update.update_id)
                user = update.effective_user
                chat = update.effective_chat
                log.info(
                    "update=%s kind=%s user=%s chat=%s status=%s ms=%.1f",
                    update.update_id,
                    update_kind(update),
                    user.id if user else "-",
                    chat.id if chat else "-",
                    status,
                    (time.perf_counter() - started) * 1000,
                )
        finally:
            if lock is not None:
                lock.release()
