"""The gate's verdict on every series a run measured (regression, same, too noisy, ...), with the
smallest change it could have seen there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verdicts",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id"), primary_key=True),
        sa.Column("verdict", sa.String(24), nullable=False),
        sa.Column("before", sa.Float),
        sa.Column("after", sa.Float, nullable=False),
        sa.Column("change", sa.Float),
        sa.Column("pvalue", sa.Float),
        sa.Column("detectable", sa.Float),
        sa.Column("noise", sa.Float),
        sa.Column("noise_source", sa.String(16)),
        sa.Column("baseline_runs", sa.Integer, nullable=False),
        sa.Column("note", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("verdicts")
