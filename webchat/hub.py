"""The open widget connections of this node, and the one bus listener that feeds them.

Each connection (``Viewer``) waits on a bounded queue of events. The listener looks an event up by
its case (a dictionary read, however many thousands of widgets are open), so an event costs the
same with two thousand visitors as with one. A visitor's conversation moves to a new case when its
old one closed: the ``message.received`` from that visitor says so, on whichever node stored it,
and the visitor's connections here follow before the event is handed out. A connection that falls
behind (its queue full) is closed: the widget reconnects with ``since=`` and loses nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from cti.events import Event, EventType

QUEUE_SIZE = 1000


@dataclass(eq=False)
class Viewer:
    """One open widget connection: whose, on which case, and what is waiting for it."""

    visitor_id: str
    case_id: str | None
    queue: asyncio.Queue[Event | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False
    evicted: bool = False  # a newer tab of the same visitor took its place: it closes and stays closed

    def offer(self, event: Event | None) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True  # (the socket closes; the widget resumes from its last seq)


class Hub:
    """The registry: viewers by case and by visitor."""

    def __init__(self, max_connections: int, per_visitor: int) -> None:
        self.max_connections, self.per_visitor = max_connections, per_visitor
        self._by_case: dict[str, set[Viewer]] = {}
        self._by_visitor: dict[str, list[Viewer]] = {}
        self.count = 0

    @property
    def full(self) -> bool:
        return self.count >= self.max_connections

    def add(self, viewer: Viewer) -> None:
        """Follow this viewer; the visitor's oldest connection is told to go past the per-visitor bound."""
        mine = self._by_visitor.setdefault(viewer.visitor_id, [])
        mine.append(viewer)
        if viewer.case_id:
            self._by_case.setdefault(viewer.case_id, set()).add(viewer)
        self.count += 1
        while len(mine) > self.per_visitor:
            oldest = mine[0]
            self.remove(oldest)
            oldest.evicted = True
            oldest.offer(None)  # (its socket closes)

    def remove(self, viewer: Viewer) -> None:
        mine = self._by_visitor.get(viewer.visitor_id, [])
        if viewer not in mine:
            return
        mine.remove(viewer)
        if not mine:
            self._by_visitor.pop(viewer.visitor_id, None)
        self._unkey(viewer)
        self.count -= 1

    def _unkey(self, viewer: Viewer) -> None:
        if viewer.case_id and (group := self._by_case.get(viewer.case_id)) is not None:
            group.discard(viewer)
            if not group:
                self._by_case.pop(viewer.case_id, None)

    def move(self, visitor_id: str, case_id: str) -> None:
        """The visitor's conversation is on ``case_id`` now."""
        for viewer in self._by_visitor.get(visitor_id, ()):
            if viewer.case_id != case_id:
                self._unkey(viewer)
                viewer.case_id = case_id
                self._by_case.setdefault(case_id, set()).add(viewer)

    def on_event(self, event: Event) -> None:
        """The bus listener (synchronous, called for every event in order)."""
        if event.case_id is None:
            return
        if event.type is EventType.MESSAGE_RECEIVED:
            sender = (event.data or {}).get("from") or {}
            if sender.get("kind") == "webchat" and sender.get("value") in self._by_visitor:
                self.move(str(sender["value"]), event.case_id)
        group = self._by_case.get(event.case_id)
        if group:
            for viewer in group:
                viewer.offer(event)

    def visitor_ids(self) -> list[str]:
        """The visitors with a socket open here."""
        return list(self._by_visitor)

    def close_all(self) -> None:
        """The node stops: every widget is told to go (it reconnects, to another node)."""
        for viewers in list(self._by_visitor.values()):
            for viewer in list(viewers):
                self.remove(viewer)
                viewer.offer(None)
