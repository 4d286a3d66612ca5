"""Schema creation and upgrades through Alembic (``cti db upgrade``; ``cti serve`` runs it too)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> AlembicConfig:
    """An Alembic configuration for our migrations and this database."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Create or upgrade the schema (blocking; call before the loop or in a thread)."""
    if database_url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        path = make_url(database_url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            _private_file(Path(path))
    command.upgrade(alembic_config(database_url), revision)


def _private_file(path: Path) -> None:
    """The database holds secrets (webhook and channel secrets, token hashes): readable by its owner only.
    SQLite creates its -wal and -shm files with the main file's permissions."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
