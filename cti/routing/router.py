"""The router: keeps waiting work and agents in memory and offers work to agents.

It runs on one node at a time (a lease), so two nodes never offer one interaction twice; the
offer itself is a conditional write through the state table (queued -> offered, agent still
available and with room), so even a stale view cannot double-book. Its view is loaded from
the database when it takes the lease and kept current from the event stream: interaction
events carry a snapshot of the interaction, agent events a snapshot of the agent.

Each pass offers new work to the best free agent, gives freed agents the highest-ranked work
they can take, and times out unanswered offers (offered -> queued, next agent).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from cti import models
from cti.bus import EventBus, EventFilter
from cti.errors import ApiError
from cti.events import Event, EventType
from cti.routing.live_policy import PolicyHolder
from cti.routing.matcher import AgentView, Requirements, WaitingItem, choose_agent, requirements
from cti.services.actors import SYSTEM
from cti.services.interactions import CommandParams, apply_command
from cti.state import OCCUPYING_STATES, Command, State
from cti.storage.db import Database

log = logging.getLogger(__name__)
FULL_SCAN_INTERVAL = 1.0
OCCUPYING = {s.value for s in OCCUPYING_STATES}


class Router:
    """Routing for the whole cluster (run it under a lease)."""

    def __init__(self, db: Database, bus: EventBus, policies: PolicyHolder,
                 clock: Callable[[], float] = time.time) -> None:
        self.db, self.bus, self.policies, self.clock = db, bus, policies, clock
        self.agents: dict[str, AgentView] = {}
        self.waiting: dict[str, WaitingItem] = {}
        self._order: list[tuple[float, float, str]] = []  # (-rank, queued_at, id), kept sorted
        self.assigned: dict[str, tuple[str, str]] = {}  # interaction -> (agent, class)
        self.offers: dict[str, tuple[str, float]] = {}  # interaction -> (agent, expires_at)
        self.case_affinity: dict[str, tuple[str, float]] = {}
        self._waiting_classes: Counter[str] = Counter()
        self._new: set[str] = set()
        self._freed = False
        self._last_full_scan = 0.0
        self.offers_made = 0

    # ---- state -------------------------------------------------------------------------
    def _agent_view(self, snap: dict[str, Any]) -> AgentView:
        policy = self.policies.current
        view = self.agents.get(snap["id"])
        load = view.load if view else {}
        idle = snap.get("idle_since_ts", self.clock())
        return AgentView(id=snap["id"], skills=snap.get("skills") or {},
                         capacity={**policy.default_capacity, **(snap.get("capacity") or {})},
                         state=snap["state"], rating=float(snap.get("rating") or 0.0), idle_since=idle, load=load)

    def _assign(self, iid: str, agent_id: str | None, channel_class: str) -> None:
        old = self.assigned.get(iid)
        new = (agent_id, channel_class) if agent_id else None
        if old == new:
            return
        if old is not None:
            self.assigned.pop(iid, None)
            view = self.agents.get(old[0])
            if view is not None:
                view.load[old[1]] = max(0, view.load.get(old[1], 0) - 1)
                self._freed = True
        if new is not None:
            self.assigned[iid] = new
            view = self.agents.get(new[0])
            if view is not None:
                view.load[new[1]] = view.load.get(new[1], 0) + 1

    def _add_waiting(self, item: WaitingItem) -> None:
        self._remove_waiting(item.id)
        self.waiting[item.id] = item
        self._waiting_classes[item.channel_class] += 1
        bisect.insort(self._order, (-item.rank(self.policies.current.aging_per_minute), item.queued_at, item.id))
        self._new.add(item.id)

    def _remove_waiting(self, iid: str) -> WaitingItem | None:
        item = self.waiting.pop(iid, None)
        if item is not None:
            self._waiting_classes[item.channel_class] -= 1
            key = (-item.rank(self.policies.current.aging_per_minute), item.queued_at, item.id)
            index = bisect.bisect_left(self._order, key)
            if index < len(self._order) and self._order[index] == key:
                del self._order[index]
            self._new.discard(iid)
        return item

    def _item_from(self, snap: dict[str, Any], declined: dict[str, float]) -> WaitingItem:
        policy = self.policies.current
        affinity = self.case_affinity.get(snap["case_id"])
        routing = snap.get("routing") or {}
        prefer_agent = routing.get("prefer_agent")
        return WaitingItem(
            id=snap["id"], channel=snap["channel"], channel_class=policy.channel_class(snap["channel"]),
            queue=snap.get("queue") or policy.queue_for(snap["channel"]), priority=int(snap.get("priority") or 0),
            language=snap.get("language"), initiation=snap.get("initiation") or "inbound",
            skills=snap.get("skills") or {}, queued_at=snap["queued_at_ts"], case_id=snap["case_id"],
            affinity_agent=prefer_agent or (affinity[0] if affinity else None),
            affinity_until=routing.get("prefer_until") or (affinity[1] if affinity else None),
            declined=declined,
        )

    def apply(self, event: Event) -> None:
        """Update the in-memory view from one event."""
        if event.type.value.startswith("interaction."):
            self._apply_interaction(event)
        elif event.type in (EventType.AGENT_STATE_CHANGED, EventType.AGENT_UPDATED):
            snap = dict(event.data["agent"])
            if event.data.get("deleted"):
                self.agents.pop(snap["id"], None)
                return
            snap["idle_since_ts"] = _ts(snap.get("idle_since"))
            view = self._agent_view(snap)
            self.agents[view.id] = view
            if view.state == "available":
                self._freed = True
        elif event.type is EventType.ROUTING_UPDATED:
            self._rebuild_order()
            self._freed = True

    def _apply_interaction(self, event: Event) -> None:
        snap = dict(event.data["interaction"])
        iid, state = snap["id"], snap["state"]
        policy = self.policies.current
        channel_class = policy.channel_class(snap["channel"])
        self._assign(iid, snap.get("agent_id") if state in OCCUPYING else None, channel_class)
        if event.type in (EventType.INTERACTION_ACCEPTED, EventType.INTERACTION_ENDED) and snap.get("agent_id"):
            self.case_affinity[snap["case_id"]] = (snap["agent_id"], event.ts + policy.affinity_seconds)
        if state == State.OFFERED and snap.get("agent_id"):
            self.offers[iid] = (snap["agent_id"], _ts(snap.get("offer_expires_at")) or event.ts + policy.offer_timeout)
        else:
            self.offers.pop(iid, None)
        if state == State.QUEUED:
            previous = self.waiting.get(iid)
            declined = dict(previous.declined) if previous else {}
            if event.type is EventType.INTERACTION_REJECTED and event.agent_id:
                declined[event.agent_id] = event.ts
            snap["queued_at_ts"] = _ts(snap.get("queued_at")) or event.ts
            self._add_waiting(self._item_from(snap, declined))
        else:
            self._remove_waiting(iid)

    def _rebuild_order(self) -> None:
        aging = self.policies.current.aging_per_minute
        self._order = sorted((-i.rank(aging), i.queued_at, i.id) for i in self.waiting.values())

    async def load(self) -> None:
        """Read agents, waiting and occupying work, and case affinity from the database."""
        def read(conn: Any) -> tuple[list[Any], list[Any], list[Any]]:
            agents = conn.execute(sa.select(models.agents).where(models.agents.c.deleted.is_(False))).all()
            live = conn.execute(sa.select(models.interactions).where(
                models.interactions.c.state.in_([State.QUEUED.value, *OCCUPYING]))).all()
            now = self.clock()
            cases = conn.execute(sa.select(models.cases.c.id, models.cases.c.affinity_agent_id,
                                           models.cases.c.affinity_until)
                                 .where(models.cases.c.affinity_until > now)).all()
            return agents, live, cases

        agents, live, cases = await self.db.read(read)
        policy = self.policies.current
        for held in (self.agents, self.waiting, self._order, self.assigned, self.offers):
            held.clear()
        self._waiting_classes.clear()
        for row in agents:
            self.agents[row.id] = AgentView(
                id=row.id, skills=row.skills or {}, capacity={**policy.default_capacity, **(row.capacity or {})},
                state=row.state, rating=row.rating, idle_since=row.idle_since)
        self.case_affinity = {c.id: (c.affinity_agent_id, c.affinity_until) for c in cases if c.affinity_agent_id}
        for row in live:
            if row.state == State.QUEUED:
                snap = dict(row._mapping)
                snap["queued_at_ts"] = row.queued_at or row.created_at
                self._add_waiting(self._item_from(snap, {}))
            elif row.agent_id:
                self._assign(row.id, row.agent_id, policy.channel_class(row.channel))
                if row.state == State.OFFERED:
                    self.offers[row.id] = (row.agent_id, row.offer_expires_at or self.clock())
        self._freed = True
        log.info("router loaded %d agents, %d waiting, %d assigned", len(self.agents), len(self.waiting),
                 len(self.assigned))

    # ---- the loop ----------------------------------------------------------------------
    async def run(self) -> None:
        """Route until cancelled (the lease's work)."""
        sub = self.bus.subscribe(EventFilter(types=["interaction.*", "agent.*", "routing.updated"]))
        try:
            await self.load()
            while not sub.closed:
                await self.dispatch()
                await self.expire_offers()
                event = await sub.next(timeout=self._wait_time())
                while event is not None:
                    self.apply(event)
                    event = sub.next_nowait()
            raise RuntimeError("router lost its event subscription")
        finally:
            sub.close()

    def _wait_time(self) -> float:
        now = self.clock()
        wait = FULL_SCAN_INTERVAL
        if self.offers:
            wait = min(wait, min(exp for _, exp in self.offers.values()) - now)
        return max(0.005, wait)

    async def dispatch(self) -> int:
        """Make every offer that the current view allows; return how many were made."""
        now = self.clock()
        policy = self.policies.current
        relax_points, priority_points = _thresholds(policy)
        timed = now - self._last_full_scan >= FULL_SCAN_INTERVAL
        # Waiting changes an item's chances only through rule thresholds (relax_after, min_priority)
        # and expiring declines; without such rules the timer pass looks at declined items only.
        full = self._freed or (timed and bool(relax_points or priority_points))
        if not full and not self._new and not timed:
            return 0
        available = [a for a in self.agents.values() if a.state == "available"]
        room = {cls: sum(1 for a in available if a.has_room(cls, policy.voice_blocks_written))
                for cls, count in self._waiting_classes.items() if count > 0}
        if full:
            self._last_full_scan = now
            candidates = [self.waiting[iid] for _, _, iid in self._order]
        elif timed:
            self._last_full_scan = now
            retry = self._new | {iid for iid, item in self.waiting.items() if item.declined}
            candidates = sorted((self.waiting[i] for i in retry if i in self.waiting),
                                key=lambda i: (-i.rank(policy.aging_per_minute), i.queued_at))
        else:
            candidates = sorted((self.waiting[i] for i in self._new if i in self.waiting),
                                key=lambda i: (-i.rank(policy.aging_per_minute), i.queued_at))
        self._new.clear()
        self._freed = False
        matches = []
        unservable: set[tuple[object, ...]] = set()  # requirement sets no free agent meets, this pass
        known: dict[tuple[object, ...], Requirements] = {}  # requirements by signature, this pass
        time_dependent = bool(relax_points or priority_points)
        for item in candidates:
            if not any(room.values()):
                break
            if not room.get(item.channel_class):
                continue
            signature = item.static_key
            if time_dependent:
                waited = now - item.queued_at
                priority = item.effective_priority(now, policy.aging_per_minute)
                signature = (signature, tuple(waited >= t for t in relax_points),
                             tuple(priority >= m for m in priority_points))
            demands = known.get(signature)
            if demands is None:
                demands = known[signature] = requirements(item, policy, now)
            key = demands.key(item.channel_class)
            if key in unservable:
                continue
            choice = choose_agent(item, available, policy, now, demands)
            if choice is None:
                if not item.declined:  # without decliners, nobody else with these needs can be served either
                    unservable.add(key)
                continue
            agent = choice.agent
            had_room = {cls: agent.has_room(cls, policy.voice_blocks_written) for cls in room}
            self._remove_waiting(item.id)
            self._assign(item.id, agent.id, item.channel_class)
            for cls, before in had_room.items():
                if before and not agent.has_room(cls, policy.voice_blocks_written):
                    room[cls] -= 1
            matches.append((item, choice))
        self._freed = False
        if matches:
            await asyncio.gather(*(self._offer(item, choice.agent.id, choice.explanation) for item, choice in matches))
        return len(matches)

    async def _offer(self, item: WaitingItem, agent_id: str, explanation: dict[str, Any]) -> None:
        policy = self.policies.current
        params = CommandParams(agent_id=agent_id, routing=explanation, offer_timeout=policy.offer_timeout)
        try:
            await self.db.write(lambda tx: apply_command(tx, item.id, Command.OFFER, actor=SYSTEM, policy=policy,
                                                          params=params))
            self.offers_made += 1
        except ApiError as exc:
            log.debug("offer of %s to %s refused: %s", item.id, agent_id, exc.code)
            self._assign(item.id, None, item.channel_class)
            if exc.code != "invalid_transition" and item.id not in self.waiting:
                self._add_waiting(item)
        except Exception:
            log.exception("offer of %s to %s failed", item.id, agent_id)
            self._assign(item.id, None, item.channel_class)
            self._add_waiting(item)

    async def expire_offers(self) -> None:
        """Offers nobody answered in time go back to the queue for the next agent."""
        now = self.clock()
        expired = [iid for iid, (_, expires) in self.offers.items() if expires <= now]
        if not expired:
            return
        policy = self.policies.current
        for iid in expired:
            self.offers.pop(iid, None)

        async def timeout(iid: str) -> None:
            try:
                await self.db.write(lambda tx: apply_command(tx, iid, Command.OFFER_TIMEOUT, actor=SYSTEM,
                                                              policy=policy))
            except ApiError:
                pass  # accepted or gone meanwhile

        await asyncio.gather(*(timeout(i) for i in expired))


def _thresholds(policy: Any) -> tuple[list[float], list[int]]:
    """The waits and priorities at which some rule changes its demands (signature components)."""
    relax = sorted({t for r in policy.rules for t in (r.relax_after, r.relax_rating_after) if t is not None})
    priority = sorted({r.min_priority for r in policy.rules if r.min_priority is not None})
    return relax, priority


def _ts(value: Any) -> float | None:
    """ISO 8601 (as rendered in snapshots) or epoch seconds to epoch seconds."""
    if value is None or isinstance(value, int | float):
        return value
    from datetime import datetime

    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
