"""Update processing: concurrent across chats, in order within one chat, each update once.

Updates of one chat (or one user, for poll answers) run one after another, so a member's
quick double press is handled in order; different members run concurrently. An update that
was already handled to the end (recorded in ``processed_updates``) is skipped, which makes a
redelivery after a crash harmless. Each update gets one structured log line::

    update=17 kind=command:quiz user=5001 member=3 chat=5001 status=ok ms=12.4

``member`` is the member id once the middleware has resolved the user (``-`` for strangers);
``status`` is ``error`` when a handler failed (the user was told, the error is logged with
its traceback above the line).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.db.models import InboxUpdate, ProcessedUpdate
from bot.db.types import utcnow
from bot.db.upsert import dialect_insert

log = logging.getLogger("studybot.updates")

# How long a processed update is remembered. Telegram redelivers an update within 24 hours at
# most, and reuses ids only after a week without updates (it then picks them at random), so
# two days of memory catch every redelivery and never mistake a new update for an old one.
RETENTION = dt.timedelta(days=2)
PRUNE_EVERY = dt.timedelta(hours=1)
# How long the mark of an update from the inbox may wait for company (a received batch or
# other marks) before it is written on its own.
MARK_DELAY = 0.02

# What the handlers learnt about the update in hand, for its log line. Handlers run in the
# task that awaits them here, so they see the dict of their own update.
_CURRENT: ContextVar[dict[str, Any] | None] = ContextVar("studybot_update", default=None)


def note_member(member_id: int | None) -> None:
    """Record who the update's user is (the middleware calls this once the actor is known)."""
    info = _CURRENT.get()
    if info is not None:
        info["member"] = member_id
        info["actor_loaded"] = True


def note_failure(reason: str) -> None:
    """Mark the update in hand as failed in its log line."""
    info = _CURRENT.get()
    if info is not None:
        info["status"] = "error"
        info.setdefault("error", reason)


def actor_loaded() -> bool:
    """Whether the middleware got as far as resolving the user of the update in hand."""
    info = _CURRENT.get()
    return bool(info and info.get("actor_loaded"))


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


def malformed(update: Update) -> str | None:
    """Why Telegram could never have sent this update (None when it could): a message
    without a chat, a button press or a vote without its user. Handlers and python-telegram-
    bot's own filters assume these fields, so such an update is logged and skipped."""
    message = update.effective_message
    if message is not None and message.chat is None:
        return "message without chat"
    query = update.callback_query
    if query is not None and query.from_user is None:
        return "callback query without user"
    answer = update.poll_answer
    if answer is not None and answer.user is None and answer.voter_chat is None:
        return "poll answer without voter"
    return None


_processed = cast(Table, ProcessedUpdate.__table__)
_inbox = cast(Table, InboxUpdate.__table__)


BatchHook = Callable[[AsyncSession, list[dict[str, Any]]], Awaitable[None]]


def sender_of(item: dict[str, Any]) -> int | None:
    """The Telegram id of the person behind a raw update (JSON object), if any."""
    for key, value in item.items():
        if key != "update_id" and isinstance(value, dict):
            user = value.get("from") or value.get("user")
            if isinstance(user, dict) and isinstance(user.get("id"), int):
                return int(user["id"])
    return None


def serial_key(update: Update) -> Any:
    if update.effective_chat is not None:
        return ("chat", update.effective_chat.id)
    if update.effective_user is not None:
        return ("user", update.effective_user.id)
    return None


class OrderedUpdateProcessor(BaseUpdateProcessor):
    """Runs updates (see the module docstring) and remembers which ones were handled.

    Both halves of that memory are batched, as each costs a transaction: the poller stores
    and looks up a whole fetched batch at once (``receive``), and updates finishing at about
    the same time are recorded together, with the next received batch when one comes
    (``_mark_processed``).
    """

    def __init__(self, max_concurrent_updates: int, db: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(max_concurrent_updates)
        self._db = db
        self._locks: weakref.WeakValueDictionary[Any, asyncio.Lock] = weakref.WeakValueDictionary()
        self._next_prune = utcnow()
        # Answers of ``prefetch`` not yet used: update id -> already processed.
        self._known: dict[int, bool] = {}
        # Finished updates waiting to be written, and the future their writer resolves.
        self._unwritten: dict[int, dt.datetime] = {}
        self._written: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._stored: set[int] = set()  # in the inbox, not yet processed
        # Run inside the transaction that stores a polled batch, with the updates that are
        # their sender's first in the batch while none of the sender's is still in hand
        # (so what they read is what the update's handling would read).
        self.batch_hooks: list[BatchHook] = []
        self._senders: dict[int, int] = {}  # update id -> sender, for updates in hand
        self._in_hand: Counter[int] = Counter()  # sender -> updates in hand

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        writer = self._writer
        if writer is not None and not writer.done():
            # Marks still waiting for the database are given a moment; what is not written
            # stays in the inbox and is handled again at the next start.
            await asyncio.wait({writer}, timeout=5)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    async def _processed_among(self, session: AsyncSession, ids: list[int]) -> set[int]:
        return set(
            await session.scalars(
                select(_processed.c.update_id).where(
                    _processed.c.update_id.in_(ids),
                    _processed.c.processed_at > utcnow() - RETENTION,
                )
            )
        )

    async def prefetch(self, update_ids: list[int]) -> None:
        """Look up a batch of updates about to be processed in one query."""
        ids = [u for u in update_ids if u not in self._known and u not in self._unwritten]
        if not ids:
            return
        try:
            async with self._db() as session:
                found = await self._processed_among(session, ids)
        except SQLAlchemyError:
            log.exception("cannot check updates %s… against processed updates", ids[0])
            return
        for update_id in ids:
            self._known[update_id] = update_id in found

    async def receive(self, items: list[dict[str, Any]]) -> bool:
        """Store a batch of received updates (JSON objects) before they are confirmed to
        Telegram, and look them up against the processed ones, in one transaction. False
        when they could not be stored: they must then stay unconfirmed until handled."""
        ids = [item["update_id"] for item in items]
        now = utcnow()
        firsts = self._firsts(items)
        self.hold(items)  # in hand until processed, whether stored or not
        # Finished updates waiting to be recorded go in the same transaction.
        marks, self._unwritten = self._unwritten, {}
        written, self._written = self._written, None
        try:
            async with self._db.begin() as session:
                if marks:
                    await self._record_marks(session, marks)
                found = await self._processed_among(session, ids)
                fresh = [item for item in items if item["update_id"] not in found]
                if fresh:
                    await session.execute(
                        dialect_insert(session)(_inbox).on_conflict_do_nothing(),
                        [
                            {"update_id": item["update_id"], "payload": item, "received_at": now}
                            for item in fresh
                        ],
                    )
                firsts = [item for item in firsts if item["update_id"] not in found]
                for hook in self.batch_hooks if firsts else ():
                    await hook(session, firsts)
        except SQLAlchemyError:
            log.exception("cannot store updates %s… as received", ids[0])
            if marks:  # written by the writer once the database is back
                self._unwritten = {**marks, **self._unwritten}
                self._schedule_write(1.0)
            return False
        finally:
            # As with the writer: whoever waits goes on, written or kept in memory.
            if written is not None and not written.done():
                written.set_result(None)
        for update_id in ids:
            self._known[update_id] = update_id in found
            if update_id not in found:
                self._stored.add(update_id)
        return True

    def hold(self, items: list[dict[str, Any]]) -> None:
        """Count these updates as in hand for their senders until they are processed."""
        for item in items:
            sender = sender_of(item)
            if sender is not None and item["update_id"] not in self._senders:
                self._senders[item["update_id"]] = sender
                self._in_hand[sender] += 1

    def _firsts(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each sender's first update of the batch, unless one of theirs is still in hand."""
        firsts: dict[int, dict[str, Any]] = {}
        for item in items:
            sender = sender_of(item)
            if sender is not None and sender not in firsts and not self._in_hand[sender]:
                firsts[sender] = item
        return list(firsts.values())

    async def pending(self) -> list[dict[str, Any]]:
        """Stored updates that were not handled to the end (the process stopped first)."""
        try:
            async with self._db() as session:
                rows = await session.scalars(
                    select(_inbox.c.payload)
                    .where(~_inbox.c.update_id.in_(select(_processed.c.update_id)))
                    .order_by(_inbox.c.update_id)
                )
                return [row for row in rows if isinstance(row, dict)]
        except SQLAlchemyError:
            log.exception("cannot read the updates received before the start")
            return []

    async def _already_processed(self, update_id: int) -> bool:
        if update_id in self._unwritten:
            return True
        known = self._known.pop(update_id, None)
        if known is not None:
            return known
        try:
            async with self._db() as session:
                return bool(await self._processed_among(session, [update_id]))
        except SQLAlchemyError:
            log.exception("cannot check update %s against processed updates", update_id)
            return False

    async def _mark_processed(self, update_id: int) -> None:
        """Remember the update as handled. An update stored in the inbox is done at once: its
        mark is written soon (with the next batch received, or on its own a moment later),
        and until then the inbox keeps it for a restart. Any other update waits until its
        mark is written, as Telegram is told about it only after that."""
        self._unwritten[update_id] = utcnow()
        if self._written is None:
            self._written = asyncio.get_running_loop().create_future()
        written = self._written
        stored = update_id in self._stored
        self._stored.discard(update_id)
        self._schedule_write(MARK_DELAY if stored else 0.0)
        if not stored:
            await asyncio.shield(written)

    def _schedule_write(self, delay: float = 0.0) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_marks(delay))

    async def _write_marks(self, delay: float = 0.0) -> None:
        retry = delay
        while self._unwritten:
            # Let the updates finishing meanwhile join the batch.
            await asyncio.sleep(retry)
            if not self._unwritten:  # a received batch took them along
                break
            batch, self._unwritten = self._unwritten, {}
            written, self._written = self._written, None
            try:
                stored = await self._write(batch)
            finally:
                if written is not None and not written.done():
                    written.set_result(None)
            if stored:
                retry = delay
            else:
                # The database is away: the updates stay done in memory (a redelivery is
                # still recognised) and are written once it is back.
                self._unwritten = {**batch, **self._unwritten}
                retry = min(max(retry * 2, 1.0), 30.0)

    async def _write(self, batch: dict[int, dt.datetime]) -> bool:
        try:
            async with self._db.begin() as session:
                await self._record_marks(session, batch)
        except SQLAlchemyError:
            log.exception("cannot record updates %s as processed", sorted(batch))
            return False
        return True

    async def _record_marks(self, session: AsyncSession, batch: dict[int, dt.datetime]) -> None:
        now = max(batch.values())
        # An id Telegram used before (see RETENTION) is remembered afresh.
        stmt = dialect_insert(session)(_processed)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[_processed.c.update_id],
                set_={"processed_at": stmt.excluded.processed_at},
            ),
            [{"update_id": u, "processed_at": at} for u, at in sorted(batch.items())],
        )
        await session.execute(delete(_inbox).where(_inbox.c.update_id.in_(sorted(batch))))
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            pruned = await session.execute(
                delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < now - RETENTION)
            )
            forgotten = getattr(pruned, "rowcount", 0)
            if forgotten:
                log.info("forgot %d processed updates older than %s", forgotten, RETENTION)

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
        info: dict[str, Any] = {"status": "ok"}
        token = _CURRENT.set(info)
        try:
            if await self._already_processed(update.update_id):
                close = getattr(coroutine, "close", None)
                if close is not None:
                    close()
                log.info(
                    "update=%s kind=%s skipped=redelivered", update.update_id, update_kind(update)
                )
                return
            reason = malformed(update)
            if reason is not None:
                close = getattr(coroutine, "close", None)
                if close is not None:
                    close()
                log.warning(
                    "update=%s kind=%s skipped=malformed (%s)",
                    update.update_id,
                    update_kind(update),
                    reason,
                )
                await self._mark_processed(update.update_id)
                return
            crashed = True
            try:
                await coroutine
                crashed = False
            finally:
                if crashed:
                    info["status"] = "error"
                else:
                    # A handler failure was answered by the error handlers: the update is
                    # done, and a redelivery must not run it (and apologise) again.
                    await self._mark_processed(update.update_id)
                user = update.effective_user
                chat = update.effective_chat
                member = info.get("member")
                log.info(
                    "update=%s kind=%s user=%s member=%s chat=%s status=%s ms=%.1f%s",
                    update.update_id,
                    update_kind(update),
                    user.id if user else "-",
                    member if member is not None else "-",
                    chat.id if chat else "-",
                    info["status"],
                    (time.perf_counter() - started) * 1000,
                    f" error={info['error']}" if "error" in info else "",
                )
        finally:
            _CURRENT.reset(token)
            if lock is not None:
                lock.release()
            sender = self._senders.pop(update.update_id, None)
            if sender is not None:
                self._in_hand[sender] -= 1
                if self._in_hand[sender] <= 0:
                    del self._in_hand[sender]
