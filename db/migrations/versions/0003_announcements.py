"""Announced state per alert channel: one row per (regression, channel, kind) once delivered.

0002 kept one ``announced_at`` and one ``resolved_announced_at`` per regression, which could only
say "Slack has it". This moves that state into ``announcements`` and carries what 0002 recorded
over as channel ``slack``, so nothing already announced is announced again. The old columns
stay (``perfwatch regressions`` shows them and perfwatch still fills them for Slack), but
nothing decides on them any more.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "announcements",
        sa.Column("regression_id", sa.Integer, sa.ForeignKey("regressions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),  # raised | resolved
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
        # The key is what makes a channel's announcement exactly-once: a second mark is a no-op.
        sa.PrimaryKeyConstraint("regression_id", "channel", "kind", name="pk_announcements"),
    )
    op.execute("INSERT INTO announcements (regression_id, channel, kind, announced_at) "
               "SELECT id, 'slack', 'raised', announced_at FROM regressions WHERE announced_at IS NOT NULL")
    op.execute("INSERT INTO announcements (regression_id, channel, kind, announced_at) "
               "SELECT id, 'slack', 'resolved', resolved_announced_at FROM regressions "
               "WHERE resolved_announced_at IS NOT NULL")


def downgrade() -> None:
    # Back to 0002's columns: Slack's state is what they can hold; other channels' is dropped.
    for kind, column in (("raised", "announced_at"), ("resolved", "resolved_announced_at")):
        op.execute(f"UPDATE regressions SET {column} = (SELECT a.announced_at FROM announcements a "
                   f"WHERE a.regression_id = regressions.id AND a.channel = 'slack' AND a.kind = '{kind}') "
                   f"WHERE {column} IS NULL")
    op.drop_table("announcements")
