"""rollups: monthly per-member and per-question totals, and live answers' own index

Revision ID: 0003_rollups
Revises: 0002_report_indexes
Create Date: 2026-11-27

Year leaderboards and summaries summed a year of raw ledger rows and answers on every call.
Closed months are now rolled up once (``bot/reports/rollups.py``) and read with the raw rows
of the days they do not cover. The partial index serves the live participation count.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0003_rollups"
down_revision: str | None = "0002_report_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("through", sa.Date(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("updated_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_state")),
    )
    # Clustered by month on SQLite (no rowid): a period's months are one range read.
    op.create_table(
        "rollup_member_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("last_award_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("reads", sa.Integer(), nullable=False),
        sa.Column("quizzes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_rollup_member_months_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("month", "member_id", name=op.f("pk_rollup_member_months")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_rollup_member_months_member", "rollup_member_months", ["member_id", "month"]
    )
    op.create_table(
        "rollup_question_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_rollup_question_months_question_id_questions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("month", "question_id", name=op.f("pk_rollup_question_months")),
        sqlite_with_rowid=False,
    )
    live = sa.text("live_question_id IS NOT NULL")
    op.create_index(
        "ix_answers_live_answered",
        "answers",
        ["answered_at", "member_id", "live_question_id"],
        sqlite_where=live,
        postgresql_where=live,
    )


def downgrade() -> None:
    op.drop_index("ix_answers_live_answered", table_name="answers")
    op.drop_table("rollup_question_months")
    op.drop_index("ix_rollup_member_months_member", table_name="rollup_member_months")
    op.drop_table("rollup_member_months")
    op.drop_table("rollup_state")
