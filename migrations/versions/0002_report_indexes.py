"""report indexes: covering indexes for period aggregates of the ledger and answers

Revision ID: 0002_report_indexes
Revises: 0001
Create Date: 2026-11-27

Leaderboards and summaries group a period's ledger rows and answers by member and by
question. With these indexes both backends answer from the index alone, without reading
the (wide) table rows.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_report_indexes"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ("ix_points_ledger_member_day_delta", "points_ledger", ["member_id", "local_day", "delta", "created_at"]),
    ("ix_points_ledger_day_member_delta", "points_ledger", ["local_day", "member_id", "delta", "created_at"]),
    ("ix_answers_answered_member_correct", "answers", ["answered_at", "member_id", "correct"]),
    ("ix_answers_answered_question_correct", "answers", ["answered_at", "question_id", "correct"]),
    ("ix_quiz_attempts_finished_at", "quiz_attempts", ["finished_at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
