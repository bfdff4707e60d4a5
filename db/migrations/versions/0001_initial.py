"""Initial schema: machines, runs, cases, series, measurements, samples.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "machines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("hostname", sa.String(255)),
        sa.Column("cpu", sa.String(255)),
        sa.Column("gpu", sa.String(255)),
        sa.Column("info", sa.JSON),
        sa.Column("first_seen", TS, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("machine_id", sa.Integer, sa.ForeignKey("machines.id"), nullable=False),
        sa.Column("suite", sa.String(255), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("size", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cases_total", sa.Integer),
        sa.Column("cases_failed", sa.Integer),
        sa.Column("git_sha", sa.String(64)),
        sa.Column("git_branch", sa.String(255)),
        sa.Column("torch_version", sa.String(64)),
        sa.Column("perfwatch_version", sa.String(32)),
        sa.Column("command", sa.Text),
        sa.Column("tags", sa.JSON),
        sa.Column("environment", sa.JSON),
    )
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_index("ix_runs_machine_id", "runs", ["machine_id"])
    op.create_table(
        "cases",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("benchmark", sa.String(255), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("dtype", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON),
        sa.Column("params_key", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("details", sa.JSON),
        sa.Column("started_at", TS),
        sa.Column("duration_s", sa.Float),
    )
    op.create_index("ix_cases_run_id", "cases", ["run_id"])
    op.create_table(
        "series",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("machine_id", sa.Integer, sa.ForeignKey("machines.id"), nullable=False),
        sa.Column("suite", sa.String(255), nullable=False),
        sa.Column("benchmark", sa.String(255), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("dtype", sa.String(32), nullable=False),
        sa.Column("params_key", sa.String(255), nullable=False),
        sa.Column("metric", sa.String(128), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(20), nullable=False),
    )
    op.create_index("ix_series_lookup", "series", ["suite", "benchmark", "mode", "backend", "metric"])
    op.create_table(
        "measurements",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id"), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("spread", sa.Float),
        sa.Column("ci_low", sa.Float),
        sa.Column("ci_high", sa.Float),
        sa.Column("n", sa.Integer),
    )
    op.create_index("ix_measurements_series_time", "measurements", ["series_id", "created_at"])
    op.create_index("ix_measurements_run", "measurements", ["run_id"])
    op.create_index("ix_measurements_case", "measurements", ["case_id"])
    op.create_table(
        "samples",
        sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("metric", sa.String(128), primary_key=True),
        sa.Column("values", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("samples", "measurements", "series", "cases", "runs", "machines"):
        op.drop_table(table)
