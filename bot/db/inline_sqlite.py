"""SQLite under the asyncio engine without a thread hop per statement.

aiosqlite runs every statement on a helper thread and wakes the event loop with the result:
two thread switches per statement, which cost far more than the statement itself (an indexed
SQLite lookup takes microseconds; the round trip took 0.4–1 ms on a busy 2-core machine, and
a quiz answer makes a dozen of them). Here statements run on the event loop's thread, as a
synchronous SQLite program runs them, behind the asyncio interface that SQLAlchemy's
aiosqlite dialect expects.

What keeps this safe:

- one connection per engine (``pool_size=1``, see ``bot.db.engine``): coroutines wait for it
  in the pool's asyncio queue, so two transactions of this process never contend inside
  SQLite. Every transaction begins with ``BEGIN IMMEDIATE`` anyway, so SQLite already ran
  them one at a time; the queue only removes the busy-waiting;
- another process holding the write lock (a CLI import, a backup) must not freeze the event
  loop: SQLite's own busy wait is kept short, and a ``BEGIN`` that finds the database locked
  is retried after an asyncio sleep until ``busy_timeout`` has passed. In WAL mode reads do
  not wait for writers, and a transaction that began with ``BEGIN IMMEDIATE`` already holds
  the write lock, so ``BEGIN`` is where waiting for other processes happens.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

# SQLite's own (blocking) busy wait per attempt: short enough not to stall the event loop.
BLOCKING_BUSY_MS = 20


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class InlineCursor:
    """An aiosqlite-like cursor whose coroutines complete without suspending."""

    __slots__ = ("_cursor", "_owner")

    def __init__(self, owner: InlineConnection) -> None:
        self._owner = owner
        self._cursor = owner._connection.cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        if sql[:5].upper() == "BEGIN":
            await self._owner.begin(self._cursor, sql)
        elif parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, seq)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None


class InlineConnection:
    """The parts of ``aiosqlite.Connection`` that SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, connection: sqlite3.Connection, busy_timeout: float) -> None:
        self._connection = connection
        self._conn = connection
        self._busy_timeout = busy_timeout

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def begin(self, cursor: sqlite3.Cursor, sql: str) -> None:
        """``BEGIN …``; while another process holds the lock, wait without blocking the loop."""
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.005
        while True:
            try:
                cursor.execute(sql)
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        cursor = self.cursor()
        await cursor.execute(sql, parameters)
        return cursor

    async def commit(self) -> None:
        self._connection.commit()

    async def rollback(self) -> None:
        self._connection.rollback()

    async def close(self) -> None:
        self._connection.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._connection.create_function(*args, **kwargs)

    def stop(self) -> None:
        self._connection.close()


def connector(
    database: str, *, uri: bool = False, busy_timeout: float = 30.0
) -> Callable[[], Awaitable[InlineConnection]]:
    """An ``async_creator`` for ``create_async_engine`` that opens one inline connection."""

    async def create() -> InlineConnection:
        connection = sqlite3.connect(
            database,
            timeout=BLOCKING_BUSY_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
            uri=uri,
        )
        return InlineConnection(connection, busy_timeout)

    return create
