"""Long polling that confirms an update to Telegram only after it was processed.

python-telegram-bot's Updater confirms updates (advances the getUpdates offset) as soon as
they are fetched, so a crash loses whatever was fetched but not yet handled. Here the offset
only moves past updates whose processing has finished; an update fetched again while still
in flight is ignored. Together with ``processed_updates`` this gives each update exactly one
effect across crashes.

A batch in which one update cannot be read (python-telegram-bot refuses the whole batch) is
fetched again raw and read update by update: the unreadable one is logged and confirmed, the
others are processed. Otherwise it would be fetched and refused forever, and nothing after it
would ever be handled.
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

from bot.telegram.sender import retry_after_seconds

log = logging.getLogger(__name__)

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
        self._next_offset: int | None = None
        self._highest_seen = -1

    def stop(self) -> None:
        self._stop.set()

    def _offset(self) -> int | None:
        if self._in_flight:
            return min(self._in_flight)
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

    async def run(self) -> None:
        bot = self.app.bot
        await bot.delete_webhook(drop_pending_updates=False)
        backoff = 1.0
        while not self._stop.is_set():
            try:
                fetch = asyncio.ensure_future(
                    bot.get_updates(
                        offset=self._offset(),
                        limit=self.limit,
                        timeout=self.timeout,
                        allowed_updates=ALLOWED_UPDATES,
                        read_timeout=self.timeout + 10,
                    )
                )
                stopper = asyncio.ensure_future(self._stop.wait())
                done, _ = await asyncio.wait({fetch, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if fetch not in done:
                    fetch.cancel()
                    break
                stopper.cancel()
                unreadable: list[int] = []
                try:
                    updates = list(fetch.result())
                except TelegramError:
                    raise
                except Exception as exc:
                    log.warning("a fetched update cannot be read (%s); reading one by one", exc)
                    updates, unreadable = await self._fetch_leniently()
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
            fresh = 0
            for update in updates:
                if update.update_id in self._in_flight or update.update_id <= self._highest_seen:
                    continue
                fresh += 1
                self._highest_seen = max(self._highest_seen, update.update_id)
                task = asyncio.create_task(self._process(update))
                self._in_flight[update.update_id] = task
            if unreadable:
                self._highest_seen = max(self._highest_seen, *unreadable)
            # Telegram answers at once while an in-flight update holds the offset back: wait
            # for progress instead of fetching the same batch in a busy loop.
            if self._in_flight and (fresh == 0 or len(self._in_flight) >= self.limit * 4):
                await asyncio.wait(
                    list(self._in_flight.values()),
                    timeout=self.timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
        await self.drain()

    async def _fetch_leniently(self) -> tuple[list[Update], list[int]]:
        """The pending batch read update by update: (readable updates, unreadable ids)."""
        with warnings.catch_warnings():
            # do_api_request suggests get_updates, which is what cannot read this batch.
            warnings.simplefilter("ignore")
            raw = await self.app.bot.do_api_request(
                "getUpdates",
                api_kwargs={
                    "offset": self._offset(),
                    "limit": self.limit,
                    "timeout": 0,
                    "allowed_updates": ALLOWED_UPDATES,
                },
            )
        updates: list[Update] = []
        unreadable: list[int] = []
        for item in raw if isinstance(raw, list) else []:
            uid = item.get("update_id") if isinstance(item, dict) else None
            try:
                update = Update.de_json(item, self.app.bot)
            except Exception as exc:
                if not isinstance(uid, int) or uid > self._highest_seen:
                    log.warning(
                        "update %s cannot be read (%s: %s); skipped", uid, type(exc).__name__, exc
                    )
                if isinstance(uid, int):
                    unreadable.append(uid)
                continue
            if update is not None:
                updates.append(update)
        return updates, unreadable

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
