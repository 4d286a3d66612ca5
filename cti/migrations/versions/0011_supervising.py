"""Supervising: reports from rolled-up blocks, held public replies, SLA breaches once, surveys.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Reports select interactions by when they began and pivot events by type and time.
    op.create_index("ix_interactions_created", "interactions", ["created_at"])
    # A network's status for a sent message names it by the id the network gave it.
    op.create_index("ix_messages_external", "messages", ["channel", "external_id"])
    op.create_index("ix_events_type_ts", "events", ["type", "ts"])
    # Plain ADD COLUMN (no table copy): the interactions' version trigger (0006) stays.
    op.add_column("agents", sa.Column("needs_approval", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("interactions", sa.Column("sla_breached_at", sa.Float(), nullable=True))
    # Finished interactions are rolled into report blocks (cti/report_rollup.py); reports read the
    # blocks and only the interactions not rolled yet, found by this index.
    op.add_column("interactions", sa.Column("rolled_gen", sa.Integer(), nullable=True))
    op.create_index("ix_interactions_unrolled", "interactions", ["rolled_gen", "created_at"])
    op.create_table(
        "report_blocks",
        sa.Column("day", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("gen", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("keys", sa.JSON(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_report_blocks_gen", "report_blocks", ["gen"])
    if op.get_bind().dialect.name == "postgresql":  # numbers do not compress: store them as they are
        op.execute("ALTER TABLE report_blocks ALTER COLUMN data SET STORAGE EXTERNAL")
    op.create_table(
        "surveys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("interaction_id", sa.String(40), nullable=False, unique=True),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("agent_id", sa.String(40), nullable=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("queue", sa.String(64), nullable=True),
        sa.Column("interaction_created_at", sa.Float(), nullable=False),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("answered_at", sa.Float(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
    )
    op.create_index("ix_surveys_answered_at", "surveys", ["answered_at"])
    op.create_index("ix_surveys_interaction_created_at", "surveys", ["interaction_created_at"])


def downgrade() -> None:
    op.drop_index("ix_surveys_interaction_created_at", table_name="surveys")
    op.drop_index("ix_surveys_answered_at", table_name="surveys")
    op.drop_table("surveys")
    op.drop_index("ix_report_blocks_gen", table_name="report_blocks")
    op.drop_table("report_blocks")
    op.drop_index("ix_interactions_unrolled", table_name="interactions")
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("rolled_gen")
        batch.drop_column("sla_breached_at")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("needs_approval")
    op.drop_index("ix_events_type_ts", table_name="events")
    op.drop_index("ix_messages_external", table_name="messages")
    op.drop_index("ix_interactions_created", table_name="interactions")
