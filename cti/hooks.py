"""The typed hooks through which feature packages plug into the core.

The core (``cti``) imports no feature package. A feature that must act inside a core
transaction registers a listener here at start (the composition root, ``cti/app.py``, does
the registering), and the core calls every registered listener at the named moments. Pivot's
callbacks are the first: they follow call outcomes to move a callback from dialing to
connected, completed, retried or failed (``pivot/callbacks.py:CallbackOutcomes``).

Listeners run inside the writer's transaction (``tx``): they must be quick and synchronous,
like every op, and whatever they emit commits with the call's own events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cti import models
from cti.routing.policy import RoutingPolicy
from cti.services.rows import Record
from cti.storage.db import Tx


class CallListener(Protocol):
    """A feature that follows the outcomes of voice calls."""

    def leg_answered(self, tx: Tx, interaction: Record, leg: str) -> None:
        """A leg of the call answered (``leg``: agent or customer)."""
        ...

    def call_ended(self, tx: Tx, interaction: Record, *, outcome: str | None, policy: RoutingPolicy) -> None:
        """The call is over (``interaction`` as it is after the core's own transition)."""
        ...

    def dial_target(self, conn: Connection, interaction_id: str) -> tuple[str, str] | None:
        """(kind, value) to dial for this outbound voice interaction, when the feature decides it."""
        ...


class MessageListener(Protocol):
    """A feature that follows customers' messages as they are stored, on the networks whose
    addresses are of the kinds it names (``identity_kinds``: "email"...)."""

    identity_kinds: frozenset[str]

    def message_received(self, tx: Tx, interaction: Any) -> None:
        """A new inbound message was stored on ``interaction`` (a row)."""
        ...


@dataclass(frozen=True)
class MessageHooks:
    """The registered message listeners, called in order inside the storing transaction."""

    listeners: tuple[MessageListener, ...] = ()

    def for_kind(self, identity_kind: str) -> MessageHooks:
        """Only the listeners that follow this kind of network: the others' channels pay nothing
        (ingest is a hot path: a webhook's messages are stored at over a thousand a second)."""
        return MessageHooks(tuple(x for x in self.listeners if identity_kind in x.identity_kinds))

    def message_received(self, tx: Tx, interaction_id: str) -> None:
        if not self.listeners:
            return
        row = tx.conn.execute(sa.select(models.interactions).where(models.interactions.c.id == interaction_id)).first()
        if row is not None:
            for listener in self.listeners:
                listener.message_received(tx, row)


@dataclass(frozen=True)
class CallHooks:
    """The registered call listeners, called in order."""

    listeners: tuple[CallListener, ...] = ()

    def leg_answered(self, tx: Tx, interaction: Record, leg: str) -> None:
        """Tell every listener that a leg answered."""
        for listener in self.listeners:
            listener.leg_answered(tx, interaction, leg)

    def call_ended(self, tx: Tx, interaction: Record, *, outcome: str | None, policy: RoutingPolicy) -> None:
        """Tell every listener that the call is over."""
        for listener in self.listeners:
            listener.call_ended(tx, interaction, outcome=outcome, policy=policy)

    def dial_target(self, conn: Connection, interaction_id: str) -> tuple[str, str] | None:
        """The first target a listener names, if any."""
        for listener in self.listeners:
            target = listener.dial_target(conn, interaction_id)
            if target is not None:
                return target
        return None
