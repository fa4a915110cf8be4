"""Engine and session factory for SQLite (WAL, statements on the event loop's thread) and
PostgreSQL (psycopg 3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.config import normalise_database_url
from bot.db import inline_sqlite


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine with the settings each backend needs to be safe under load."""
    url = normalise_database_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if is_sqlite(url):
        # pysqlite's legacy transaction handling emits no BEGIN for SELECT and breaks
        # SAVEPOINT; take over BEGIN ourselves (SQLAlchemy's documented recipe).
        kwargs["connect_args"] = {"isolation_level": None, "timeout": 30}
        parsed = make_url(url)
        database = parsed.database or ""
        if database not in ("", ":memory:"):
            # One connection, used on the event loop's thread: see bot.db.inline_sqlite.
            uri = str(parsed.query.get("uri", "")).lower() in ("1", "true")
            kwargs["async_creator"] = inline_sqlite.connector(database, uri=uri)
            kwargs.update(pool_size=1, max_overflow=0, pool_timeout=120)
    else:
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        _install_sqlite_pragmas(engine)
    return engine


def _install_sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # Short: a lock held by another process is waited for asynchronously at BEGIN.
        cursor.execute(f"PRAGMA busy_timeout={inline_sqlite.BLOCKING_BUSY_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
        # instead of failing with "database is locked" when a reader upgrades. Issued on the
        # driver's cursor: every transaction begins here, and SQLAlchemy's statement
        # machinery around a fixed BEGIN cost more than the rest of a short transaction.
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        finally:
            cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
