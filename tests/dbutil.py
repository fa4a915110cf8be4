"""Database helpers for tests: per-test databases on SQLite or PostgreSQL, sync queries."""

from __future__ import annotations

import os
import uuid
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

PG_ENV = "STUDYBOT_TEST_DATABASE_URL"


def pg_server_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def sync_url(url: str) -> str:
    return url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")


def async_url(url: str) -> str:
    if url.startswith("sqlite:"):
        return url.replace("sqlite:", "sqlite+aiosqlite:", 1)
    if url.startswith("postgresql://"):
        return url.replace("postgresql://", "postgresql+psycopg://", 1)
    return url


def _with_database(server_url: str, name: str) -> str:
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


def create_pg_database(server_url: str) -> str:
    """A fresh, empty database on the server of ``server_url``; returns its async URL."""
    name = f"studybot_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(sync_url(async_url(server_url)), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return _with_database(async_url(server_url), name)


def drop_pg_database(server_url: str, database_url: str) -> None:
    name = database_url.rpartition("/")[2]
    admin = create_engine(sync_url(async_url(server_url)), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


_engines: dict[str, Engine] = {}


def sync_engine(url: str) -> Engine:
    key = sync_url(url)
    if key not in _engines:
        _engines[key] = create_engine(key, poolclass=None)
    return _engines[key]


def query(url: str, sql: str, **params: Any) -> list[Any]:
    """Rows of a read-only query, for assertions in tests."""
    with sync_engine(url).connect() as conn:
        return list(conn.execute(text(sql), params))


def scalar(url: str, sql: str, **params: Any) -> Any:
    rows = query(url, sql, **params)
    return rows[0][0] if rows else None


def execute(url: str, sql: str, **params: Any) -> None:
    with sync_engine(url).begin() as conn:
        conn.execute(text(sql), params)


def truncate_all(url: str) -> None:
    """Empty every table except Alembic's version table."""
    from bot.db.models import Base

    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    engine = sync_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
                )
            )
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))


def dispose_all() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
