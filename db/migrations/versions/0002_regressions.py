"""Detected regressions with a state shared by alerts and the dashboard.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "regressions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id"), nullable=False),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("raised_run_id", sa.String(32)),
        sa.Column("detected_at", TS, nullable=False),
        sa.Column("before", sa.Float, nullable=False),
        sa.Column("after", sa.Float, nullable=False),
        sa.Column("change", sa.Float, nullable=False),
        sa.Column("pvalue", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("updated_at", TS),
        sa.Column("announced_at", TS),
        sa.Column("resolved_announced_at", TS),
        sa.UniqueConstraint("series_id", "run_id", name="uq_regressions_series_run"),
    )
    op.create_index("ix_regressions_state", "regressions", ["state", "ts"])
    op.create_index("ix_regressions_run", "regressions", ["run_id"])


def downgrade() -> None:
    op.drop_table("regressions")
