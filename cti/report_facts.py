"""Interactions as columns of numbers: what every report metric is computed from.

Each interaction becomes one element of a few NumPy arrays: when it began, how long after that it
was queued, its speed of answer, first response, handle time and (abandoned) wait, and a few flags.
Durations are the same float64 subtractions the definitions use, so a figure computed from facts
is the figure computed from rows. Each element also has a *key* code: its (channel, queue, agent,
direction) in a list kept beside the columns. Finished interactions are stored so, one block per
UTC day (``report_blocks``, cti/report_rollup.py); the ones still open are converted from their
rows when a report is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FIELDS = ("created", "queued", "answer", "first", "handle", "abandon_wait")  # float64, NaN: none
ACCEPTED, OUTCOME, INBOUND, ABANDONED = 1, 2, 4, 8  # flag bits
OUTCOME_STATES = ("abandoned", "ended", "wrapup")
FINISHED_STATES = ("abandoned", "ended")  # nothing about them changes any more: they can be rolled up
FORMAT = 1  # the first byte of a block's data (then padding, so every column is aligned)
HEADER = 8
BYTES_PER_ELEMENT = 8 * 6 + 4 + 4 + 1


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
    key: np.ndarray  # int32: the element's (channel, queue, agent, direction), an index into a list of keys


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
                 key=np.empty(0, np.int32))


Key = tuple[str, str | None, str | None, str]  # channel, queue, agent, direction


def key_of(row: Any) -> Key:
    return (row.channel, row.queue, row.agent_id, row.direction)


def from_rows(rows: Sequence[Any], keys: dict[Key, int], gen: int = 0) -> Facts:
    """Facts of interaction rows (with the columns of ``ROW_COLUMNS``); ``keys`` gives (and gains) each
    row's key code."""
    n = len(rows)
    cols = {name: np.full(n, np.nan) for name in FIELDS}
    flags = np.zeros(n, np.uint8)
    codes = np.zeros(n, np.int32)
    for i, r in enumerate(rows):
        codes[i] = keys.setdefault(key_of(r), len(keys))
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
    return Facts(**cols, flags=flags, gen=np.full(n, gen, np.int32), key=codes)


ROW_COLUMNS = ("id", "channel", "queue", "agent_id", "direction", "state", "created_at", "queued_at", "accepted_at",
               "first_response_at", "closed_at", "ended_at")


def encode(facts: Facts) -> bytes:
    """A block's data: a format header, then each column's bytes (floats, generations, keys, flags)."""
    parts = [bytes([FORMAT]) + bytes(HEADER - 1)]
    parts.extend(getattr(facts, name).astype(np.float64).tobytes() for name in FIELDS)
    parts += [facts.gen.astype(np.int32).tobytes(), facts.key.astype(np.int32).tobytes(),
              facts.flags.astype(np.uint8).tobytes()]
    return b"".join(parts)


def decode(data: bytes, count: int) -> Facts:
    if len(data) != HEADER + BYTES_PER_ELEMENT * count or data[0] != FORMAT:
        raise ValueError("a report block of an unknown format or length")
    offset, columns = HEADER, {}
    for name in FIELDS:
        columns[name] = np.frombuffer(data, np.float64, count, offset)
        offset += 8 * count
    gen = np.frombuffer(data, np.int32, count, offset)
    key = np.frombuffer(data, np.int32, count, offset + 4 * count)
    flags = np.frombuffer(data, np.uint8, count, offset + 8 * count)
    return Facts(**columns, flags=flags, gen=gen, key=key)
