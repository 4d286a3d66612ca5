"""pivot links and callbacks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 22:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pivot_links",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("contact_id", sa.String(40), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("source_interaction_id", sa.String(40), nullable=False),
        sa.Column("agent_id", sa.String(40), nullable=True),
        sa.Column("agent_name", sa.String(200), nullable=True),
        sa.Column("to", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("opened_at", sa.Float(), nullable=True),
        sa.Column("redeemed_at", sa.Float(), nullable=True),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.Column("expired_event_at", sa.Float(), nullable=True),
    )
    op.create_table(
        "callbacks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("pivot_link_id", sa.String(40), nullable=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("contact_id", sa.String(40), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("source_interaction_id", sa.String(40), nullable=True),
        sa.Column("agent_id", sa.String(40), nullable=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("client_key", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("due_at", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("interaction_id", sa.String(40), nullable=True),
        sa.Column("last_outcome", sa.String(32), nullable=True),
        sa.Column("history", sa.JSON(), nullable=True),
        sa.Column("notify", sa.String(16), nullable=True),
        sa.Column("link_sent_at", sa.Float(), nullable=True),
        sa.Column("connected_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_pivot_links_case_id", "pivot_links", ["case_id"])
    op.create_index("ix_pivot_links_source_interaction_id", "pivot_links", ["source_interaction_id"])
    op.create_index("ix_callbacks_pivot_link_id", "callbacks", ["pivot_link_id"])
    op.create_index("ix_callbacks_case_id", "callbacks", ["case_id"])
    op.create_index("ix_callbacks_interaction_id", "callbacks", ["interaction_id"])
    op.create_index("ix_callbacks_due", "callbacks", ["state", "due_at"])
    op.create_index("ix_callbacks_number", "callbacks", ["number", "created_at"])
    op.create_index("ix_callbacks_client", "callbacks", ["client_key", "created_at"])


def downgrade() -> None:
    op.drop_table("callbacks")
    op.drop_table("pivot_links")
