"""leases.holder_url: where the other nodes reach a lease's holder (voice requests are forwarded
to the node that carries the media)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.add_column(sa.Column("holder_url", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("holder_url")
