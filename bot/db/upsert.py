"""INSERT … ON CONFLICT DO NOTHING for both backends: let the database refuse duplicates."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


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
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(model).values(**values).on_conflict_do_nothing()
    column = returning if returning is not None else model.__table__.primary_key.columns[0]
    result = await session.execute(stmt.returning(column))
    row = result.first()
    if row is None:
        return None
    return row[0] if returning is not None else True
