"""Apply Alembic migrations from inside the running event loop (no nested asyncio.run)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def migrations_dir() -> Path:
    """The migrations folder: beside the package in a checkout, inside it when installed."""
    here = Path(__file__).resolve().parent.parent  # bot/
    for candidate in (here.parent / "migrations", here / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("the migrations folder is missing from this installation")


def alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _current(connection: Connection) -> str | None:
    heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None


async def upgrade(engine: AsyncEngine, revision: str = "heads") -> tuple[str | None, str | None]:
    """Upgrade to ``revision`` (all heads by default); return (revisions before, after)."""
    async with engine.connect() as conn:
        before = await conn.run_sync(_current)
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)
    async with engine.connect() as conn:
        after = await conn.run_sync(_current)
    return before, after


def head_revisions() -> tuple[str, ...]:
    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))
