"""Recordings of calls, listed and served with their paused stretches.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 06:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("interaction_id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=True),
        sa.Column("agent_id", sa.String(40), nullable=True),
        sa.Column("call_id", sa.String(200), nullable=False),
        sa.Column("path", sa.String(500), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("paused", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("deleted_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_recordings_interaction", "recordings", ["interaction_id"])


def downgrade() -> None:
    op.drop_index("ix_recordings_interaction", table_name="recordings")
    op.drop_table("recordings")
