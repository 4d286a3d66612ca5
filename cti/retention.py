"""Deleting recordings older than ``[recording] retention_days``: the file itself is unlinked and
its row marked deleted (the timeline still tells that the call was recorded). One node does it
(a leased runner), every hour and once at start.
"""

from __future__ import annotations

import asyncio
import logging
import time

from cti.services.recordings import expired, forget_files
from cti.storage.db import Database

log = logging.getLogger(__name__)
EVERY_SECONDS = 3600.0


class RecordingRetention:
    def __init__(self, db: Database, days: float) -> None:
        self.db, self.days = db, days

    async def purge(self, now: float | None = None) -> int:
        """Delete what is older than the retention; how many recordings went."""
        before = (now or time.time()) - self.days * 86400
        total = 0
        while found := await self.db.read(lambda c: expired(c, before)):
            total += await self.db.write(lambda tx: forget_files(tx, found))
        if total:
            log.info("deleted %d recording(s) older than %g days", total, self.days)
        return total

    async def run(self) -> None:
        while True:
            await self.purge()
            await asyncio.sleep(EVERY_SECONDS)
