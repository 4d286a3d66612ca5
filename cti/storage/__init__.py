"""Storage: the Database (batched single writer, readers), migrations, and the event log."""

from cti.storage.db import Database, Tx

__all__ = ["Database", "Tx"]
