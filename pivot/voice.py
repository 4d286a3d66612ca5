"""Talk in the browser: redeeming a pivot link for a browser voice session (the write op).

The link is used once (pivot.redeemed with ``voice``), and the session becomes a voice
interaction on the link's case (``initiation: pivot``, ``source_interaction_id`` set), queued and
offered first to the agent who sent the link, with call.ringing; the voice connector then holds
the browser with hold audio and bridges it to the accepting agent's phone.
"""

from __future__ import annotations

from typing import Any

from cti import models
from cti.errors import Gone
from cti.events import Event, EventType
from cti.routing.policy import RoutingPolicy
from cti.services.interactions import new_interaction
from cti.services.rows import Record, fetch_one, update_row
from cti.storage.db import Tx
from pivot.links import link_event, link_status
from pivot.settings import PivotConfig

PIVOT_LINKS = models.pivot_links


def start_browser_voice(tx: Tx, link_id: str, call_id: str, *, config: PivotConfig,
                        policy: RoutingPolicy) -> Record:
    """Use the link for a browser voice session; the new voice interaction."""
    link = fetch_one(tx.conn, PIVOT_LINKS, link_id, what="pivot_link", for_update=True)
    status = link_status(Record(link), tx.now)
    if status != "active":
        raise Gone("this link can no longer be used", code="pivot_link_gone", details={"status": status})
    update_row(tx.conn, PIVOT_LINKS, link, {"uses": link["uses"] + 1, "redeemed_at": tx.now})
    routing: dict[str, Any] = {}
    if link["agent_id"] and config.callback_affinity_seconds > 0:
        routing = {"prefer_agent": link["agent_id"], "prefer_until": tx.now + config.callback_affinity_seconds}
    row = new_interaction(tx, case_id=link["case_id"], contact_id=link["contact_id"], channel="voice",
                          direction="inbound", initiation="pivot", external_id=call_id, thread_key=f"call:{call_id}",
                          source_interaction_id=link["source_interaction_id"], routing=routing, policy=policy)
    tx.emit(link_event(EventType.PIVOT_REDEEMED, link, tx.now, voice=True, interaction_id=row["id"]))
    tx.emit(Event.make(EventType.CALL_RINGING, case_id=row["case_id"], interaction_id=row["id"], queue=row["queue"],
                       data={"call_id": call_id, "from": {"kind": "browser", "value": link_id}}))
    return row
