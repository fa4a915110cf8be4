"""Fixtures shared by every test: a migrated database (SQLite, or PostgreSQL when
STUDYBOT_TEST_DATABASE_URL is set), a config, and the fake Bot API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from bot.db.engine import create_engine, create_session_factory
from bot.db.migrate import upgrade
from tests import dbutil


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """One migrated PostgreSQL database per test run (tables emptied before each test)."""
    server = dbutil.pg_server_url()
    if server is None:
        yield None
        return
    url = dbutil.create_pg_database(server)

    async def migrate() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    yield url
    dbutil.dispose_all()
    dbutil.drop_pg_database(server, url)


@pytest.fixture
def database_url(pg_database: str | None, tmp_path: Path) -> str:
    """A migrated, empty database for this test."""
    if pg_database is not None:
        dbutil.truncate_all(pg_database)
        return pg_database
    url = f"sqlite+aiosqlite:///{tmp_path / 'studybot-test.db'}"

    async def migrate() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return url


@pytest.fixture
def config(database_url: str) -> Config:
    return make_config(database_url)


def make_config(database_url: str, **overrides: Any) -> Config:
    data: dict[str, Any] = {
        "telegram": {"token": "123456:TEST-TOKEN"},
        "database": {"url": database_url},
        "organization": "测试区局",
        "departments": ["办公室", "宣传科", "业务一科"],
    }
    data.update(overrides)
    return Config.model_validate(data)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def module_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of its own for a module (end-to-end tests share one bot process)."""
    server = dbutil.pg_server_url()
    if server is not None:
        url = dbutil.create_pg_database(server)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('e2e-db') / 'studybot.db'}"

    async def migrate() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    yield url
    if server is not None:
        dbutil.dispose_all()
        dbutil.drop_pg_database(server, url)


@pytest.fixture(scope="module")
def fake_bot() -> Iterator[Any]:
    """A running fake Bot API server for a module."""
    from tests.fakebot import FakeBotAPI

    with FakeBotAPI() as fake:
        yield fake
