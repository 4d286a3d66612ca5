"""social listening: interaction scoring, unrouted and noise mentions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("scoring", sa.JSON(), nullable=True))
        batch.create_index("ix_interactions_contact", ["contact_id", "created_at"])  # a contact's recent contacts
    op.create_table(
        "social_mentions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(300), nullable=True),
        sa.Column("author_kind", sa.String(32), nullable=False),
        sa.Column("author", sa.String(320), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("channel", "external_id", name="uq_social_mention_channel_external"),
    )
    op.create_index("ix_social_mentions_status", "social_mentions", ["status"])
    op.create_index("ix_social_mentions_created_at", "social_mentions", ["created_at"])


def downgrade() -> None:
    op.drop_table("social_mentions")
    with op.batch_alter_table("interactions") as batch:
        batch.drop_index("ix_interactions_contact")
        batch.drop_column("scoring")
