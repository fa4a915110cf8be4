"""SQLite statements on the event loop's thread: waiting for another process's lock must
not freeze the loop, and gives up after the busy timeout."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.db import inline_sqlite
from bot.db.engine import create_engine, create_session_factory


def hold_write_lock(path: Path, seconds: float, ready: threading.Event) -> threading.Thread:
    """Another writer (as a CLI import would be) holding the lock for ``seconds``."""

    def run() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (v) VALUES ('other')")
        ready.set()
        threading.Event().wait(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


async def test_waiting_for_another_writer_keeps_the_loop_running(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    db = create_session_factory(engine)
    try:
        async with db.begin() as session:
            await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        ready = threading.Event()
        holder = hold_write_lock(path, 0.5, ready)
        await asyncio.to_thread(ready.wait, 5)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        async with db.begin() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('ours')"))
        task.cancel()
        holder.join()
        assert ticks >= 10  # the loop ran while BEGIN waited for the other writer
        async with db() as session:
            rows = (await session.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
        assert rows == ["other", "ours"]
    finally:
        await engine.dispose()


async def test_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    setup = sqlite3.connect(path)
    setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    setup.close()
    ready = threading.Event()
    holder = hold_write_lock(path, 1.0, ready)
    await asyncio.to_thread(ready.wait, 5)
    conn = await inline_sqlite.connector(str(path), busy_timeout=0.2)()
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await conn.execute("BEGIN IMMEDIATE")
    finally:
        await conn.close()
        holder.join()


async def test_one_connection_serves_concurrent_transactions(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'many.db'}")
    db = create_session_factory(engine)
    try:
        async with db.begin() as session:
            await session.execute(text("CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER)"))
            await session.execute(text("INSERT INTO c (id, n) VALUES (1, 0)"))

        async def bump() -> None:
            async with db.begin() as session:
                n = (await session.execute(text("SELECT n FROM c WHERE id = 1"))).scalar_one()
                await asyncio.sleep(0)  # another coroutine may run here: it must wait
                await session.execute(text("UPDATE c SET n = :n WHERE id = 1"), {"n": n + 1})

        await asyncio.gather(*(bump() for _ in range(50)))
        async with db() as session:
            assert (await session.execute(text("SELECT n FROM c"))).scalar_one() == 50
        assert engine.pool.size() == 1  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
