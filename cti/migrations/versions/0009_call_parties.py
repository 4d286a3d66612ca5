"""Parties of a call beyond the customer and the agent: consulted and conference guests, and
supervisors monitoring it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 06:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_parties",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("interaction_id", sa.String(40), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(40), nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("joined_at", sa.Float(), nullable=True),
        sa.Column("left_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_call_parties_interaction", "call_parties", ["interaction_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_call_parties_interaction", table_name="call_parties")
    op.drop_table("call_parties")
