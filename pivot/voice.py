"""Talk in the browser: redeeming a pivot link for a browser voice session (the write ops).

The link is used once (pivot.redeemed with ``voice``), and the session becomes a voice
interaction on the link's case (``initiation: pivot``, ``source_interaction_id`` set), queued and
offered first to the agent who sent the link, with call.ringing; the voice connector then holds
the browser with hold audio and bridges it to the accepting agent's phone. When the agent's leg
answers, ``pivot.connected`` (once) closes the funnel as ``callback.connected`` does for callbacks.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from connectors.media import MediaBridge
from cti import models
from cti.api.context import Services
from cti.errors import Gone, InvalidInput
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


def browser_call_answered(tx: Tx, interaction: Record) -> None:
    """The agent answered a browser call that came through a link: pivot.connected, once per call.
    The link is the case's most recently used voice link (the call was made from it)."""
    EVENTS = models.events
    told = tx.conn.execute(sa.select(EVENTS.c.seq).where(EVENTS.c.interaction_id == interaction["id"],
                                                         EVENTS.c.type == EventType.PIVOT_CONNECTED.value)
                           .limit(1)).first()
    link = tx.conn.execute(sa.select(PIVOT_LINKS).where(
        PIVOT_LINKS.c.case_id == interaction["case_id"], PIVOT_LINKS.c.to == "voice",
        PIVOT_LINKS.c.redeemed_at.is_not(None)).order_by(PIVOT_LINKS.c.redeemed_at.desc()).limit(1)).first()
    if told is not None or link is None:
        return
    tx.emit(link_event(EventType.PIVOT_CONNECTED, link, tx.now, voice=True, interaction_id=interaction["id"],
                       since_link_sent=round(tx.now - link.created_at, 3)))


async def bridge_browser(svc: Services, bridge: MediaBridge, link_id: str, sdp: str,
                         settings: PivotConfig) -> dict[str, Any]:
    """Answer a browser's WebRTC offer for this link and hand the call to the media bridge:
    {type: answer, sdp, interaction_id} (the pivot page's "talk now" and the chat widget's)."""
    from softphone_bridge.webrtc import BrowserLeg

    leg = BrowserLeg()
    try:
        answer = await leg.answer(sdp)
    except Exception as exc:
        await leg.hangup()
        raise InvalidInput(f"the offer could not be used: {exc}", code="invalid_offer",
                           details={"sdp": "not a usable WebRTC audio offer"}) from exc
    try:
        row = await svc.db.write(lambda tx: start_browser_voice(tx, link_id, leg.call_id, config=settings,
                                                                policy=svc.policies.current))
    except Exception:
        await leg.hangup()
        raise
    await bridge.adopt(row["id"], leg)
    return {"type": "answer", "sdp": answer, "interaction_id": row["id"]}
