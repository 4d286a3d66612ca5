"""Recordings of calls: control by API, the list, who may fetch one, and retention.

``POST /interactions/{id}/recording {"action": start|pause|resume|stop}`` asks the connector
carrying the call (``call.command`` "recording"); the connector reports what it did
(``recording_state``, ``recorded``), which keeps one row per recording file and tells
``call.recording.started|paused|resumed`` and ``call.recorded``. Pause is for card numbers:
nothing of a paused stretch is kept (``connectors/sip/recorder.py``). Agents fetch only their own
calls' recordings; supervisors and admins all. ``[recording] retention_days`` deletes the file
itself after that many days (the row stays, marked deleted, so the timeline still tells it).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cti import models
from cti.errors import Conflict, Forbidden, NotFound
from cti.event_payloads import CallCommandPayload
from cti.events import Event, EventType, iso
from cti.ids import new_id
from cti.routing.policy import RoutingPolicy
from cti.services.actors import Actor
from cti.services.calls import connected_call
from cti.services.rows import Record, fetch_one
from cti.storage.db import Tx

RECORDINGS, INTERACTIONS = models.recordings, models.interactions
RecordingAction = Literal["start", "pause", "resume", "stop"]
RecordPolicy = Literal["all", "on_demand", "none"]
EVENTS = {"started": EventType.CALL_RECORDING_STARTED, "paused": EventType.CALL_RECORDING_PAUSED,
          "resumed": EventType.CALL_RECORDING_RESUMED}


def render_recording(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "interaction_id": row["interaction_id"], "case_id": row["case_id"],
            "agent_id": row["agent_id"], "state": row["state"], "seconds": row["seconds"],
            "paused": row["paused"] or [], "started_at": iso(row["started_at"]), "ended_at": iso(row["ended_at"]),
            "deleted_at": iso(row["deleted_at"])}


def request_recording(tx: Tx, interaction_id: str, action: RecordingAction, *, actor: Actor,
                      policy: RecordPolicy = "on_demand") -> None:
    """Start, pause, resume or stop the recording of one's own connected call (``policy`` "none":
    nothing is ever started)."""
    row = connected_call(tx, interaction_id, actor)
    if action == "start" and policy == "none":
        raise Conflict("calls are not recorded here ([recording] record = \"none\")", code="recording_off")
    _record_command(tx, row, action, by=actor.agent_id or actor.role.value)


def _record_command(tx: Tx, row: Any, action: RecordingAction, *, by: str) -> None:
    command: CallCommandPayload = {"action": "recording", "op": action, "by": by}
    tx.emit(Event.make(EventType.CALL_COMMAND, case_id=row["case_id"], interaction_id=row["id"],
                       agent_id=row["agent_id"], queue=row["queue"], data=command))


class RecordEveryCall:
    """``[recording] record = "all"``: a call listener (``cti/hooks.py``) that starts the recording
    of every call on whatever connector carries it, as soon as a leg answers (a SIP caller when the
    server answers it, a Twilio call when its agent does). Once per call: when the call already has
    a recording (the first leg's start landed, or an agent stopped it), a later leg asks nothing."""

    def leg_answered(self, tx: Tx, interaction: Record, leg: str) -> None:
        recorded = tx.conn.execute(sa.select(RECORDINGS.c.id).where(
            RECORDINGS.c.interaction_id == interaction["id"]).limit(1)).first()
        if recorded is None:
            _record_command(tx, interaction, "start", by="policy")

    def call_ended(self, tx: Tx, interaction: Record, *, outcome: str | None, policy: RoutingPolicy) -> None:
        return None

    def dial_target(self, conn: Connection, interaction_id: str) -> tuple[str, str] | None:
        return None


def _row_for(tx: Tx, interaction_id: str, call_id: str, path: str) -> Any:
    found = tx.conn.execute(sa.select(RECORDINGS).where(RECORDINGS.c.path == path)).mappings().first()
    if found is not None:
        return found
    interaction = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    values = {"id": new_id("rec"), "interaction_id": interaction_id, "case_id": interaction["case_id"],
              "agent_id": interaction["agent_id"], "call_id": call_id, "path": path, "state": "recording",
              "seconds": None, "paused": [], "started_at": tx.now, "ended_at": None, "deleted_at": None}
    tx.conn.execute(RECORDINGS.insert(), values)
    return values


def recording_state(tx: Tx, interaction_id: str, call_id: str, path: str, state: str) -> None:
    """The connector started, paused or resumed a recording (``state``: started, paused, resumed)."""
    row = _row_for(tx, interaction_id, call_id, path)
    stored = "paused" if state == "paused" else "recording"
    tx.conn.execute(sa.update(RECORDINGS).where(RECORDINGS.c.id == row["id"]).values(state=stored))
    _tell(tx, interaction_id, EVENTS[state], {"call_id": call_id, "recording_id": row["id"]})


def recorded(tx: Tx, interaction_id: str, call_id: str, path: str, seconds: float,
             paused: list[list[float]] | None = None) -> str:
    """The recording is complete on disk: call.recorded with its id, length and paused stretches."""
    row = _row_for(tx, interaction_id, call_id, path)
    if row["state"] != "stopped":
        tx.conn.execute(sa.update(RECORDINGS).where(RECORDINGS.c.id == row["id"]).values(
            state="stopped", seconds=round(seconds, 2), paused=paused or [], ended_at=tx.now))
        _tell(tx, interaction_id, EventType.CALL_RECORDED, {
            "call_id": call_id, "recording_id": row["id"], "path": path, "seconds": round(seconds, 2),
            "paused": paused or []})
    return str(row["id"])


def _tell(tx: Tx, interaction_id: str, kind: EventType, data: dict[str, Any]) -> None:
    interaction = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    tx.emit(Event.make(kind, case_id=interaction["case_id"], interaction_id=interaction_id,
                       agent_id=interaction["agent_id"], queue=interaction["queue"], data=data))  # type: ignore[arg-type]


def list_recordings(conn: Any, actor: Actor, *, interaction_id: str | None, case_id: str | None,
                    limit: int) -> list[dict[str, Any]]:
    query = sa.select(RECORDINGS)
    if interaction_id:
        query = query.where(RECORDINGS.c.interaction_id == interaction_id)
    if case_id:
        query = query.where(RECORDINGS.c.case_id == case_id)
    if actor.is_agent:  # filters only narrow: an agent sees its own calls' recordings
        query = query.where(RECORDINGS.c.agent_id == actor.agent_id)
    rows = conn.execute(query.order_by(RECORDINGS.c.started_at.desc()).limit(limit)).mappings().all()
    return [render_recording(r) for r in rows]


def readable_recording(conn: Any, recording_id: str, actor: Actor) -> Any:
    """A recording this actor may fetch (404 unknown, 403 another agent's call)."""
    row = conn.execute(sa.select(RECORDINGS).where(RECORDINGS.c.id == recording_id)).mappings().first()
    if row is None:
        raise NotFound(f"no recording {recording_id}", code="not_found")
    if actor.is_agent and row["agent_id"] != actor.agent_id:
        raise Forbidden("this recording is of another agent's call", code="not_your_recording")
    return row


def expired(conn: Any, before: float) -> list[tuple[str, str]]:
    """(id, path) of complete recordings that ended before ``before`` and still have their file."""
    return [(r.id, r.path) for r in conn.execute(sa.select(RECORDINGS.c.id, RECORDINGS.c.path).where(
        RECORDINGS.c.state == "stopped", RECORDINGS.c.ended_at < before).limit(500)).all()]


def forget_files(tx: Tx, found: list[tuple[str, str]]) -> int:
    """Delete the files (really: unlink) and mark the rows deleted; how many went."""
    for recording_id, path in found:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        tx.conn.execute(sa.update(RECORDINGS).where(RECORDINGS.c.id == recording_id).values(
            state="deleted", deleted_at=tx.now))
    return len(found)
