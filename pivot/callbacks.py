"""Callbacks: asked for on a pivot link, scheduled, dialled as voice interactions, retried, reported.

States: ``scheduled`` (waiting for its time) -> ``routing`` (a voice interaction on the case is in
the queue, offered first to the link's agent) -> ``dialing`` (the agent's phone answered, the
customer's is ringing) -> ``connected`` -> ``completed``. An attempt that does not reach the
customer (no answer, busy, unreachable) goes back to ``scheduled`` after the next delay of
``retry_seconds``, and after the last one to ``failed``: callback.failed tells the agent, and
the scheduler tells the customer on the original channel (``notify``: pending -> sent).

Every limit of the public form is counted in the database, so it holds across nodes: uses per
link, callbacks per number per hour, callbacks per client (a keyed hash of the address) per hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Unpack

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cti import models
from cti.errors import Gone, RateLimited
from cti.event_payloads import CallbackExtras
from cti.events import Event, EventType, iso
from cti.ids import new_id
from cti.routing.policy import RoutingPolicy
from cti.services.actors import SYSTEM
from cti.services.contacts import link_identity
from cti.services.interactions import CommandParams, apply_command, new_interaction
from cti.services.rows import Record, fetch_one, update_row
from cti.state import Command, State
from cti.storage.db import Tx
from pivot.links import link_event, link_status
from pivot.settings import PivotConfig
from pivot.tokens import mask_number
from pivot.voice import browser_call_answered

CALLBACKS, PIVOT_LINKS, IDENTITIES = models.callbacks, models.pivot_links, models.identities
HOUR = 3600.0
NOT_REACHED = ("no_answer", "busy", "failed", "agent_unreachable")


def render_callback(row: Any, *, full_number: bool = True) -> dict[str, Any]:
    """The API shape (events carry the masked number only)."""
    body = {
        "id": row.id, "state": row.state, "number_masked": mask_number(row.number), "case_id": row.case_id,
        "contact_id": row.contact_id, "pivot_link_id": row.pivot_link_id,
        "source_interaction_id": row.source_interaction_id, "agent_id": row.agent_id,
        "interaction_id": row.interaction_id, "due_at": iso(row.due_at), "attempts": row.attempts,
        "max_attempts": row.max_attempts, "last_outcome": row.last_outcome, "history": row.history or [],
        "created_at": iso(row.created_at), "connected_at": iso(row.connected_at),
    }
    if full_number:
        body["number"] = row.number
    return body


def callback_event(event_type: EventType, row: Any, now: float, **extra: Unpack[CallbackExtras]) -> Event:
    """A callback.* event on the case (and the attempt's interaction, once there is one)."""
    return Event.make(event_type, case_id=row.case_id, interaction_id=row.interaction_id or row.source_interaction_id,
                      agent_id=row.agent_id, ts=now,
                      data={"callback": render_callback(row, full_number=False), **extra})


def request_callback(tx: Tx, link_id: str, *, number: str, due_at: float | None, client: str | None,
                     config: PivotConfig) -> Record:
    """Redeem the link for a callback to ``number`` (already vetted): pivot.redeemed, the phone
    linked to the contact (unverified until the call is answered), callback.scheduled."""
    link = fetch_one(tx.conn, PIVOT_LINKS, link_id, what="pivot_link", for_update=True)
    if link_status(Record(link), tx.now) != "active":
        raise Gone("this link can no longer be used", code="pivot_link_gone",
                   details={"status": link_status(Record(link), tx.now)})
    _check_limits(tx, link_id, number, client, config)
    update_row(tx.conn, PIVOT_LINKS, link, {"uses": link["uses"] + 1, "redeemed_at": tx.now})
    _link_phone(tx, link["contact_id"], number)
    callback = Record(
        id=new_id("cbk"), pivot_link_id=link_id, case_id=link["case_id"], contact_id=link["contact_id"],
        source_interaction_id=link["source_interaction_id"], agent_id=link["agent_id"], number=number,
        client_key=client, state="scheduled", due_at=max(due_at or tx.now, tx.now), attempts=0,
        max_attempts=1 + len(config.retry_seconds), interaction_id=None, last_outcome=None, history=[],
        notify=None, link_sent_at=link["created_at"], connected_at=None, created_at=tx.now, updated_at=tx.now,
    )
    tx.conn.execute(CALLBACKS.insert(), callback)
    tx.emit(link_event(EventType.PIVOT_REDEEMED, link, tx.now, callback_id=callback["id"]))
    tx.emit(callback_event(EventType.CALLBACK_SCHEDULED, callback, tx.now, when="now" if due_at is None else "later"))
    return callback


def _check_limits(tx: Tx, link_id: str, number: str, client: str | None, config: PivotConfig) -> None:
    conn, since = tx.conn, tx.now - HOUR
    per_link = conn.execute(sa.select(sa.func.count()).where(CALLBACKS.c.pivot_link_id == link_id)).scalar() or 0
    if per_link >= config.callbacks_per_link:
        raise Gone("this link has been used for all the callbacks it allows", code="pivot_link_gone",
                   details={"status": "used"})
    checks = [(CALLBACKS.c.number == number, config.callbacks_per_number_per_hour, "number")]
    if client:
        checks.append((CALLBACKS.c.client_key == client, config.callbacks_per_client_per_hour, "client"))
    for condition, limit, what in checks:
        rows: Sequence[float] = (
            conn.execute(
                sa.select(CALLBACKS.c.created_at)
                .where(condition, CALLBACKS.c.created_at > since)
                .order_by(CALLBACKS.c.created_at)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        if len(rows) >= limit:
            retry_after = max(1, int(rows[0] + HOUR - tx.now) + 1)
            raise RateLimited(f"too many callbacks for this {what} in the last hour", code="callback_rate_limited",
                              retry_after=retry_after, details={"limit": what})


def _link_phone(tx: Tx, contact_id: str, number: str) -> None:
    """The link holder claims the number for the contact; another contact's number stays theirs."""
    owner = tx.conn.execute(
        sa.select(IDENTITIES.c.contact_id).where(IDENTITIES.c.kind == "phone", IDENTITIES.c.value == number)
    ).scalar()
    if owner is None:
        link_identity(tx, contact_id, "phone", number, verified=False)


def due_callbacks(tx: Tx, *, limit: int = 50) -> list[Record]:
    """Claim the callbacks whose time has come. On PostgreSQL the rows are locked with SKIP LOCKED,
    so two nodes never claim one; the state change in the same transaction makes the claim stick."""
    query = (
        sa.select(CALLBACKS)
        .where(CALLBACKS.c.state == "scheduled", CALLBACKS.c.due_at <= tx.now)
        .order_by(CALLBACKS.c.due_at)
        .limit(limit)
    )
    if tx.conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [Record(row._mapping) for row in tx.conn.execute(query).all()]


def start_attempt(tx: Tx, callback: Record, *, config: PivotConfig, policy: RoutingPolicy) -> Record:
    """One attempt: a voice interaction on the case, queued, preferring the link's agent for a while."""
    done = tx.conn.execute(CALLBACKS.update().where(CALLBACKS.c.id == callback["id"], CALLBACKS.c.state == "scheduled")
                           .values(state="routing"))
    if not done.rowcount:  # (claimed elsewhere a moment ago)
        return callback
    routing: dict[str, Any] = {}
    if callback["agent_id"] and config.callback_affinity_seconds > 0:
        routing = {"prefer_agent": callback["agent_id"], "prefer_until": tx.now + config.callback_affinity_seconds}
    interaction = new_interaction(
        tx, case_id=callback["case_id"], contact_id=callback["contact_id"], channel="voice", direction="outbound",
        initiation="callback", thread_key=f"callback:{callback['id']}:{callback['attempts'] + 1}",
        source_interaction_id=callback["source_interaction_id"], routing=routing, policy=policy,
    )
    callback.update(state="routing", interaction_id=interaction["id"], attempts=callback["attempts"] + 1,
                    updated_at=tx.now)
    update_row(tx.conn, CALLBACKS, callback, {"interaction_id": interaction["id"], "attempts": callback["attempts"],
                                        "updated_at": tx.now})
    return callback


class CallbackOutcomes:
    """Callbacks follow the calls that attempt them (a ``cti.hooks.CallListener``, registered at start)."""

    def __init__(self, retry_seconds: list[float]) -> None:
        self.retry_seconds = retry_seconds  # a failed attempt is retried after each of these

    def leg_answered(self, tx: Tx, interaction: Record, leg: str) -> None:
        """A leg of an attempt answered: dialing, then connected."""
        if interaction["initiation"] == "callback":
            on_leg_answered(tx, interaction["id"], leg)
        elif interaction["initiation"] == "pivot" and leg == "agent" and interaction["channel"] == "voice":
            browser_call_answered(tx, interaction)

    def call_ended(self, tx: Tx, interaction: Record, *, outcome: str | None, policy: RoutingPolicy) -> None:
        """An attempt is over: completed, retried or failed. An attempt that never reached the customer
        leaves nothing to wrap up, so the agent is freed at once."""
        if interaction["initiation"] != "callback":
            return
        reached = on_call_ended(tx, interaction["id"], outcome=outcome, retry_seconds=self.retry_seconds)
        if not reached and interaction["state"] == State.WRAPUP.value:
            apply_command(tx, interaction["id"], Command.WRAPUP, actor=SYSTEM, policy=policy,
                          params=CommandParams(disposition=f"callback {outcome or 'failed'}"))

    def dial_target(self, conn: Connection, interaction_id: str) -> tuple[str, str] | None:
        """A callback dials the number the customer gave."""
        callback = callback_for(conn, interaction_id)
        return ("phone", callback["number"]) if callback is not None else None


def callback_for(conn: Any, interaction_id: str) -> Record | None:
    """The callback this voice interaction is an attempt of, if any."""
    row = conn.execute(sa.select(CALLBACKS).where(CALLBACKS.c.interaction_id == interaction_id)).first()
    return Record(row._mapping) if row else None


def on_leg_answered(tx: Tx, interaction_id: str, leg: str) -> None:
    """The agent's leg answered: dialing the customer. The customer's: connected, number verified."""
    callback = callback_for(tx.conn, interaction_id)
    if callback is None:
        return
    if leg == "agent" and callback["state"] == "routing":
        update_row(tx.conn, CALLBACKS, callback, {"state": "dialing", "updated_at": tx.now})
        tx.emit(callback_event(EventType.CALLBACK_DIALING, callback, tx.now, attempt=callback["attempts"]))
    elif leg == "customer" and callback["state"] in ("routing", "dialing"):
        update_row(tx.conn, CALLBACKS, callback, {"state": "connected", "connected_at": tx.now, "updated_at": tx.now})
        tx.conn.execute(
            IDENTITIES.update()
            .where(
                IDENTITIES.c.kind == "phone",
                IDENTITIES.c.value == callback["number"],
                IDENTITIES.c.contact_id == callback["contact_id"],
            )
            .values(verified=True)
        )
        since = tx.now - callback["link_sent_at"] if callback["link_sent_at"] else None
        tx.emit(callback_event(EventType.CALLBACK_CONNECTED, callback, tx.now, attempt=callback["attempts"],
                               since_link_sent=round(since, 3) if since is not None else None))


def on_call_ended(tx: Tx, interaction_id: str, *, outcome: str | None, retry_seconds: list[float]) -> bool:
    """The attempt's call is over: completed if the customer was reached, else retried or failed.
    True when the customer was reached on this attempt."""
    callback = callback_for(tx.conn, interaction_id)
    if callback is None or callback["state"] in ("completed", "failed", "scheduled"):
        return callback is not None and callback["state"] == "completed"
    if callback["state"] == "connected":
        update_row(tx.conn, CALLBACKS, callback, {"state": "completed", "updated_at": tx.now})
        return True
    attempt_failed(tx, callback, outcome or "failed", retry_seconds=retry_seconds)
    return False


def attempt_failed(tx: Tx, callback: Record, outcome: str, *, retry_seconds: list[float]) -> None:
    """Record the failed attempt; schedule the next one or give up (callback.failed)."""
    history = [*(callback["history"] or []), {"attempt": callback["attempts"], "outcome": outcome,
                                               "at": iso(tx.now), "interaction_id": callback["interaction_id"]}]
    changes: dict[str, Any] = {"history": history, "last_outcome": outcome, "updated_at": tx.now}
    if callback["attempts"] < callback["max_attempts"]:
        delay = retry_seconds[min(callback["attempts"], len(retry_seconds)) - 1] if retry_seconds else 60.0
        changes.update(state="scheduled", due_at=tx.now + delay)
        update_row(tx.conn, CALLBACKS, callback, changes)
        tx.emit(callback_event(EventType.CALLBACK_SCHEDULED, callback, tx.now, when="retry", reason=outcome))
        return
    changes.update(state="failed", notify="pending")
    update_row(tx.conn, CALLBACKS, callback, changes)
    tx.emit(callback_event(EventType.CALLBACK_FAILED, callback, tx.now, reason=outcome))


def fail_uncallable(tx: Tx, callback: Record) -> None:
    """A due callback that no connector here can place (the voice connector was removed after the
    link was sent): failed at once, visibly (callback.failed on the case's timeline and the agent's
    desk; the customer is told on their channel), and no voice interaction is offered to anyone."""
    history = [*(callback["history"] or []), {"attempt": callback["attempts"], "outcome": "no_voice_connector",
                                               "at": iso(tx.now), "interaction_id": None}]
    update_row(tx.conn, CALLBACKS, callback, {"state": "failed", "notify": "pending", "history": history,
                                        "last_outcome": "no_voice_connector", "updated_at": tx.now})
    tx.emit(callback_event(EventType.CALLBACK_FAILED, callback, tx.now, reason="no_voice_connector"))
