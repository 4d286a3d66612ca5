"""The live routing policy every node uses: from the config at start, replaced by PUT /api/v1/routing.

The replacement is stored in the settings table and announced by a routing.updated event, so
every node (and a restarted one) applies the same policy.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from pydantic import ValidationError

from cti import models
from cti.events import Event, EventType
from cti.routing.policy import RoutingPolicy
from cti.storage.db import Database, Tx

log = logging.getLogger(__name__)
SETTING_KEY = "routing"


class PolicyHolder:
    """Holds the current policy, merged with the capacity classes of configured custom channels."""

    def __init__(self, base: RoutingPolicy, extra_channel_classes: dict[str, str] | None = None) -> None:
        self.extra_channel_classes = extra_channel_classes or {}
        self.current = self._merged(base)

    def _merged(self, policy: RoutingPolicy) -> RoutingPolicy:
        classes = {**self.extra_channel_classes, **policy.channel_classes}
        return policy.model_copy(update={"channel_classes": classes})

    def replace(self, policy: RoutingPolicy) -> None:
        """Use this policy from now on."""
        self.current = self._merged(policy)

    async def load(self, db: Database) -> None:
        """Use the stored policy if one was PUT earlier."""
        value = await db.read(lambda c: c.execute(
            sa.select(models.settings.c.value).where(models.settings.c.key == SETTING_KEY)).scalar())
        if value:
            try:
                self.replace(RoutingPolicy.model_validate(value))
            except ValidationError:
                log.exception("stored routing policy is invalid; keeping the configured one")

    def on_event(self, event: Event) -> None:
        """Bus listener: apply policies announced by any node."""
        if event.type is EventType.ROUTING_UPDATED:
            self.replace(RoutingPolicy.model_validate(event.data["policy"]))


def store_policy(tx: Tx, policy: RoutingPolicy) -> None:
    """Write op: persist the policy and announce it."""
    SETTINGS = models.settings
    value = policy.model_dump(mode="json")
    exists = tx.conn.execute(sa.select(SETTINGS.c.key).where(SETTINGS.c.key == SETTING_KEY)).first()
    if exists:
        tx.conn.execute(SETTINGS.update().where(SETTINGS.c.key == SETTING_KEY).values(value=value, updated_at=tx.now))
    else:
        tx.conn.execute(SETTINGS.insert().values(key=SETTING_KEY, value=value, updated_at=tx.now))
    tx.emit(Event.make(EventType.ROUTING_UPDATED, data={"policy": value}))
