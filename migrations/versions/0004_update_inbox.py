"""update inbox: updates received by long polling, stored before they are confirmed

Revision ID: 0004_update_inbox
Revises: 0003_rollups
Create Date: 2026-11-27

Long polling used to hold the getUpdates offset at the oldest update still being handled, so
every poll fetched the updates in hand again and could not wait for new ones. Received
updates are now stored first and confirmed at once; one that was not handled to the end
when the process stopped is handled at the next start.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.db.types

revision: str = "0004_update_inbox"
down_revision: str | None = "0003_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "update_inbox",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("received_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_update_inbox")),
    )


def downgrade() -> None:
    op.drop_table("update_inbox")
