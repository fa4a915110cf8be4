"""Long polling that never confirms an update to Telegram before it is safe.

python-telegram-bot's Updater confirms updates (advances the getUpdates offset) as soon as
they are fetched, so a crash loses whatever was fetched but not yet handled. Here a fetched
batch is first stored in ``update_inbox`` (with the lookup against ``processed_updates``, one
transaction), and only then confirmed; an update leaves the inbox in the transaction that
records it as processed. At start-up the updates still in the inbox (the process stopped
while handling them) are handled first. Together with ``processed_updates`` this gives each
update exactly one effect across crashes, while the poll waits for new updates instead of
fetching the ones in hand again.

When a batch cannot be stored (the database is down), its updates stay unconfirmed until
they are handled: the offset waits at the oldest of them, and Telegram keeps returning them
with the ones after it, so only the new ones are read into python-telegram-bot objects. An
update that cannot be read (python-telegram-bot would refuse the whole batch, again and
again) is logged and confirmed on its own while the others are processed.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from typing import Any

from telegram import Update
from telegram.error import (
    Conflict,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from bot.telegram.processor import OrderedUpdateProcessor
from bot.telegram.sender import retry_after_seconds

log = logging.getLogger(__name__)

# The raw call is deliberate (see above); python-telegram-bot suggests get_updates instead.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning)

ALLOWED_UPDATES = [
    "message",
    "edited_message",
    "callback_query",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
]


class SafePoller:
    def __init__(self, application: Application, *, timeout: int = 10, limit: int = 100) -> None:  # type: ignore[type-arg]
        self.app = application
        self.timeout = timeout
        self.limit = limit
        self._stop = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[Any]] = {}
        # In flight and not stored: these hold the offset back until they are handled.
        self._unconfirmed: set[int] = set()
        self._highest_seen = -1

    def stop(self) -> None:
        self._stop.set()

    def _offset(self) -> int | None:
        if self._unconfirmed:
            return min(self._unconfirmed)
        if self._highest_seen >= 0:
            return self._highest_seen + 1
        return None

    async def _process(self, update: Update) -> None:
        try:
            await self.app.update_processor.process_update(update, self.app.process_update(update))
        except Exception:
            log.exception("update %s failed outside its handlers", update.update_id)
        finally:
            self._in_flight.pop(update.update_id, None)
            self._unconfirmed.discard(update.update_id)

    async def _fetch(self) -> list[Any]:
        """The raw updates from the offset on (JSON objects, not yet read)."""
        raw = await self.app.bot.do_api_request(
            "getUpdates",
            api_kwargs={
                "offset": self._offset(),
                "limit": self.limit,
                "timeout": self.timeout,
                "allowed_updates": ALLOWED_UPDATES,
            },
            read_timeout=self.timeout + 10,
        )
        return raw if isinstance(raw, list) else []

    def _read(self, item: Any) -> Update | None:
        """The update, or None when it cannot be read (it then counts as done)."""
        try:
            return Update.de_json(item, self.app.bot)
        except Exception as exc:
            log.warning(
                "update %s cannot be read (%s: %s); skipped",
                item.get("update_id"),
                type(exc).__name__,
                exc,
            )
            return None

    def _spawn(self, batch: list[tuple[dict[str, Any], Update]], *, stored: bool) -> None:
        for _item, update in batch:
            if not stored:
                self._unconfirmed.add(update.update_id)
            self._in_flight[update.update_id] = asyncio.create_task(self._process(update))

    async def _start(self, batch: list[tuple[dict[str, Any], Update]]) -> None:
        """Store the batch (see the module docstring) and start handling it."""
        processor = self.app.update_processor
        stored = isinstance(processor, OrderedUpdateProcessor) and await processor.receive(
            [item for item, _update in batch]
        )
        self._spawn(batch, stored=stored)

    async def _recover(self) -> None:
        """Handle the stored updates a previous run did not finish."""
        processor = self.app.update_processor
        if not isinstance(processor, OrderedUpdateProcessor):
            return
        batch = []
        for item in await processor.pending():
            uid = item.get("update_id")
            if not isinstance(uid, int) or uid in self._in_flight:
                continue
            self._highest_seen = max(self._highest_seen, uid)
            update = self._read(item)
            if update is not None:
                batch.append((item, update))
        if batch:
            log.info("handling %d update(s) received before the restart", len(batch))
            await processor.prefetch([update.update_id for _item, update in batch])
            processor.hold([item for item, _update in batch])
        self._spawn(batch, stored=True)

    async def run(self) -> None:
        bot = self.app.bot
        await bot.delete_webhook(drop_pending_updates=False)
        await self._recover()
        backoff = 1.0
        while not self._stop.is_set():
            try:
                fetch = asyncio.ensure_future(self._fetch())
                stopper = asyncio.ensure_future(self._stop.wait())
                done, _ = await asyncio.wait({fetch, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if fetch not in done:
                    fetch.cancel()
                    break
                stopper.cancel()
                batch = fetch.result()
                backoff = 1.0
            except InvalidToken:
                raise
            except Conflict as exc:
                log.error("another poller or a webhook uses this token: %s", exc)
                await self._sleep(5)
                continue
            except RetryAfter as exc:
                await self._sleep(retry_after_seconds(exc))
                continue
            except (TimedOut, NetworkError) as exc:
                log.warning("getUpdates failed: %s; retrying in %.0fs", exc, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 30)
                continue
            except TelegramError as exc:
                log.error("getUpdates failed: %s; retrying in %.0fs", exc, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 30)
                continue
            fresh: list[tuple[dict[str, Any], Update]] = []
            for item in batch:
                uid = item.get("update_id") if isinstance(item, dict) else None
                if not isinstance(uid, int) or uid in self._in_flight or uid <= self._highest_seen:
                    continue
                self._highest_seen = uid
                update = self._read(item)
                if update is not None:
                    fresh.append((item, update))
            if fresh:
                await self._start(fresh)
            # Enough in hand: let some finish before taking more. And while unstored updates
            # hold the offset back, Telegram answers at once: wait for progress instead of
            # fetching the same batch in a busy loop.
            crowded = len(self._in_flight) >= self.limit * 4
            if crowded or (self._unconfirmed and not fresh):
                await asyncio.wait(
                    list(self._in_flight.values()),
                    timeout=self.timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if self._unconfirmed:
                    await self._sleep(0.05)
        await self.drain()

    async def drain(self, timeout: float = 20) -> None:
        """Finish the updates in hand (graceful shutdown), then confirm them."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=timeout)
        offset = self._offset()
        if offset is not None:
            try:
                await self.app.bot.get_updates(offset=offset, limit=1, timeout=0)
            except Exception:  # confirming is best effort; redelivery is harmless
                log.debug("could not confirm the last updates", exc_info=True)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            pass
