"""interactions.version: a row version the database raises on every update, whoever writes the
row (the server, a CLI command, a SQL console), so a cached rendering can be checked against it.

A later migration that makes Alembic rebuild the interactions table (a batch "recreate" on SQLite)
drops the trigger with the old table and must create it again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# SQLite cannot assign NEW in a BEFORE trigger, so an AFTER trigger updates the row once more; the
# WHEN clause keeps that second update (which raises the version) from firing it again. An UPDATE
# that sets the version itself still ends one above the old one: a version is never seen twice.
SQLITE_TRIGGER = """
CREATE TRIGGER interactions_version AFTER UPDATE ON interactions
FOR EACH ROW WHEN NEW.version <= OLD.version
BEGIN
    UPDATE interactions SET version = OLD.version + 1 WHERE rowid = NEW.rowid;
END
"""

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION cti_raise_row_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END
$$
"""

POSTGRES_TRIGGER = """
CREATE TRIGGER interactions_version BEFORE UPDATE ON interactions
FOR EACH ROW EXECUTE FUNCTION cti_raise_row_version()
"""


def upgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(POSTGRES_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS interactions_version" +
               (" ON interactions" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS cti_raise_row_version()")
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("version")
