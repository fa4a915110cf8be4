"""INSERT … ON CONFLICT DO NOTHING for both backends: let the database refuse duplicates."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_name(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def dialect_insert(session: AsyncSession) -> Callable[[Any], Any]:
    """The backend's INSERT construct (the one with ON CONFLICT clauses)."""
    return postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert


@functools.cache
def _ignoring(dialect: str, table: Table, column: Column[Any]) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing().returning(column)


def insert_ignoring(session: AsyncSession, table: Table, returning: Column[Any]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING ``returning``, built once per backend: the
    returned value is None when a unique key already held the row."""
    return _ignoring(dialect_name(session), table, returning)


async def insert_or_ignore(
    session: AsyncSession,
    model: Any,
    values: dict[str, Any],
    *,
    returning: Any = None,
) -> Any:
    """Insert one row unless a unique constraint already holds it.

    Returns the ``returning`` column's value (or True) when inserted, None when it existed.
    """
    stmt = dialect_insert(session)(model).values(**values).on_conflict_do_nothing()
    column = returning if returning is not None else model.__table__.primary_key.columns[0]
    result = await session.execute(stmt.returning(column))
    row = result.first()
    if row is None:
        return None
    return row[0] if returning is not None else True
