"""api_tokens.expires_at (optional expiry); messages are unique on (channel, external_id) only when
inbound.

A far end may answer every reply with the same id (a receiver that echoes a constant): that id is
informational and must not collide, while an inbound message's id is what makes a webhook
delivered twice store one message. An inbound message whose id equals an outbound one's is a
different message. So the unique constraint becomes a partial unique index over inbound rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INBOUND = sa.text("direction = 'inbound'")


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.Float(), nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("uq_message_channel_external", type_="unique")
    op.create_index("uq_message_inbound_external", "messages", ["channel", "external_id"], unique=True,
                    sqlite_where=INBOUND, postgresql_where=INBOUND)


def downgrade() -> None:
    op.drop_index("uq_message_inbound_external", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.create_unique_constraint("uq_message_channel_external", ["channel", "external_id"])
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
