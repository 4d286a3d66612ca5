"""Interactions as columns of numbers: what every report metric is computed from.

Each interaction becomes one element of a few NumPy arrays: when it began, how long after that it
was queued, its speed of answer, first response, handle time and (abandoned) wait, and a few flags.
Durations are the same float64 subtractions the definitions use, so a figure computed from facts
is the figure computed from rows. Its channel, queue, agent and direction are small codes, each an
index into that component's list of values (``Codebook``), kept beside the columns. Finished
interactions are stored so, one block per UTC day (``report_blocks``, cti/report_rollup.py); the
ones still open are converted from their rows when a report is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FIELDS = ("created", "queued", "answer", "first", "handle", "abandon_wait")  # float64, NaN: none
COMPONENTS = ("channel", "queue", "agent", "direction")  # int32 codes into a Codebook
ACCEPTED, OUTCOME, INBOUND, ABANDONED = 1, 2, 4, 8  # flag bits
OUTCOME_STATES = ("abandoned", "ended", "wrapup")
FINISHED_STATES = ("abandoned", "ended")  # nothing about them changes any more: they can be rolled up
FORMAT = 2  # the first byte of a block's data (then padding, so every column is aligned)
HEADER = 8
BYTES_PER_ELEMENT = 8 * len(FIELDS) + 4 + 4 * len(COMPONENTS) + 1
ROW_COLUMNS = ("id", "channel", "queue", "agent_id", "direction", "state", "created_at", "queued_at", "accepted_at",
               "first_response_at", "closed_at", "ended_at")


@dataclass(slots=True)
class Codebook:
    """Each component's values in the order their codes were given (JSON-ready)."""

    values: dict[str, dict[str | None, int]] = field(default_factory=lambda: {c: {} for c in COMPONENTS})

    @classmethod
    def load(cls, stored: dict[str, list[str | None]]) -> Codebook:
        return cls({c: {v: i for i, v in enumerate(stored.get(c, []))} for c in COMPONENTS})

    def code(self, component: str, value: str | None) -> int:
        known = self.values[component]
        return known.setdefault(value, len(known))

    def dump(self) -> dict[str, list[str | None]]:
        return {c: list(self.values[c]) for c in COMPONENTS}

    def listed(self, component: str) -> list[str | None]:
        return list(self.values[component])


@dataclass(slots=True)
class Facts:
    """Columns of ``n`` interactions (one block's, or many blocks' joined)."""

    created: np.ndarray
    queued: np.ndarray  # seconds from created to queued
    answer: np.ndarray
    first: np.ndarray
    handle: np.ndarray
    abandon_wait: np.ndarray
    flags: np.ndarray  # uint8
    gen: np.ndarray  # int32: the roll-up generation (0: not rolled, read from its row)
    channel: np.ndarray  # int32 codes (Codebook)
    queue: np.ndarray
    agent: np.ndarray
    direction: np.ndarray

    def __len__(self) -> int:
        return len(self.created)

    def take(self, mask: np.ndarray) -> Facts:
        return Facts(*(getattr(self, name)[mask] for name in self.__slots__))

    @staticmethod
    def join(parts: Sequence[Facts]) -> Facts:
        if not parts:
            return empty()
        return Facts(*(np.concatenate([getattr(p, name) for p in parts]) for name in Facts.__slots__))


def empty() -> Facts:
    return Facts(**{name: np.empty(0) for name in FIELDS}, flags=np.empty(0, np.uint8), gen=np.empty(0, np.int32),
                 **{c: np.empty(0, np.int32) for c in COMPONENTS})


def from_rows(rows: Sequence[Any], book: Codebook, gen: int = 0) -> Facts:
    """Facts of interaction rows (with the columns of ``ROW_COLUMNS``), coded in ``book`` (which grows)."""
    n = len(rows)
    cols = {name: np.full(n, np.nan) for name in FIELDS}
    flags = np.zeros(n, np.uint8)
    codes = {c: np.zeros(n, np.int32) for c in COMPONENTS}
    for i, r in enumerate(rows):
        for component, value in zip(COMPONENTS, (r.channel, r.queue, r.agent_id, r.direction), strict=True):
            codes[component][i] = book.code(component, value)
        cols["created"][i] = r.created_at
        if r.queued_at is not None:
            cols["queued"][i] = r.queued_at - r.created_at
            if r.accepted_at is not None:
                cols["answer"][i] = r.accepted_at - r.queued_at
        if r.first_response_at is not None:
            cols["first"][i] = r.first_response_at - r.created_at
        if r.accepted_at is not None and r.closed_at is not None:
            cols["handle"][i] = r.closed_at - r.accepted_at
        if r.state == "abandoned":
            cols["abandon_wait"][i] = (r.ended_at or r.queued_at or 0) - (r.queued_at or r.created_at)
        flags[i] = ((ACCEPTED if r.accepted_at is not None else 0) | (OUTCOME if r.state in OUTCOME_STATES else 0)
                    | (INBOUND if r.direction == "inbound" else 0) | (ABANDONED if r.state == "abandoned" else 0))
    return Facts(**cols, flags=flags, gen=np.full(n, gen, np.int32), **codes)


def encode(facts: Facts) -> bytes:
    """A block's data: a format header, then each column's bytes (floats, generations, codes, flags)."""
    parts = [bytes([FORMAT]) + bytes(HEADER - 1)]
    parts.extend(getattr(facts, name).astype(np.float64).tobytes() for name in FIELDS)
    parts.append(facts.gen.astype(np.int32).tobytes())
    parts.extend(getattr(facts, c).astype(np.int32).tobytes() for c in COMPONENTS)
    parts.append(facts.flags.astype(np.uint8).tobytes())
    return b"".join(parts)


def decode(data: bytes, count: int) -> Facts:
    if len(data) != HEADER + BYTES_PER_ELEMENT * count or data[0] != FORMAT:
        raise ValueError("a report block of an unknown format or length")
    offset, columns = HEADER, {}
    for name in FIELDS:
        columns[name] = np.frombuffer(data, np.float64, count, offset)
        offset += 8 * count
    for name in ("gen", *COMPONENTS):
        columns[name] = np.frombuffer(data, np.int32, count, offset)
        offset += 4 * count
    return Facts(**columns, flags=np.frombuffer(data, np.uint8, count, offset))
