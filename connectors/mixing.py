"""Who hears whom in every state of a call, and the mix a party hears when it hears several others.

This is the one table of the product's call audio (``hears``). A call's parties are the
**customer**, the **agent**, **guests** (``guest:<id>``: a consulted colleague, a number or a SIP
URI brought into the call) and **supervisors** (``supervisor:<id>``) who monitor it:

| call mode   | who talks with whom                                  | the customer        |
| ----------- | ---------------------------------------------------- | ------------------- |
| talking     | customer and agent                                   | hears the agent     |
| hold        | nobody                                               | hears hold audio    |
| consult     | the agent and the guests                             | hears hold audio    |
| conference  | customer, agent and guests: everybody hears everybody | hears everybody     |

A supervisor's monitor mode adds to that: **listen** hears the agent's side of the call and is
heard by nobody; **whisper** is also heard by the agent (never by the customer or guests);
**barge** is heard by everyone the agent talks with. Nothing in the table tells the agent or the
customer that anyone listens.

A party that hears exactly one other gets that party's packets relayed untouched (no decoding);
a party that hears several gets a mix: each G.711 frame decoded to 16-bit linear, summed with
clipping, encoded again (``mix``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from enum import StrEnum

from connectors.media import AGENT, CUSTOMER, Hears

with warnings.catch_warnings():  # deprecated in 3.11-3.12 only because it moves to the audioop-lts package
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # standard library to 3.12; the audioop-lts package from 3.13 (see pyproject.toml)

GUEST_PREFIX, SUPERVISOR_PREFIX = "guest:", "supervisor:"
FRAME_SAMPLES = 160  # 20 ms at 8 kHz: one RTP packet of G.711
SILENCE = b"\x00\x00" * FRAME_SAMPLES


class CallMode(StrEnum):
    TALKING = "talking"
    HOLD = "hold"
    CONSULT = "consult"
    CONFERENCE = "conference"


class Monitor(StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


def guest(party_id: str) -> str:
    return GUEST_PREFIX + party_id


def supervisor(party_id: str) -> str:
    return SUPERVISOR_PREFIX + party_id


def hears(mode: CallMode, parties: Iterable[str], monitors: Mapping[str, Monitor] | None = None) -> Hears:
    """Listener -> the parties it hears, for the parties present (absent ones are left out)."""
    present = set(parties)
    guests = {p for p in present if p.startswith(GUEST_PREFIX)}
    talking: set[str] = {
        CallMode.TALKING: {CUSTOMER, AGENT},
        CallMode.HOLD: set(),
        CallMode.CONSULT: {AGENT} | guests,
        CallMode.CONFERENCE: {CUSTOMER, AGENT} | guests,
    }[mode] & present
    graph: dict[str, set[str]] = {p: (talking - {p}) if p in talking else set() for p in present}
    # The agent's side of the call: who the agent talks with now (the agent alone when on hold).
    side = talking if AGENT in talking else {AGENT} & present
    for watcher, how in (monitors or {}).items():
        if watcher not in present:
            continue
        graph[watcher] = set(side)
        heard_by = {Monitor.LISTEN: set(), Monitor.WHISPER: {AGENT}, Monitor.BARGE: side}[how] & present
        for listener in heard_by:
            graph[listener].add(watcher)
    return {listener: frozenset(heard) for listener, heard in graph.items() if heard}


def needs_mix(graph: Hears) -> bool:
    """Whether any party hears more than one other (then the call's audio is mixed, not relayed)."""
    return any(len(heard) > 1 for heard in graph.values())


def decode(payload: bytes, payload_type: int) -> bytes:
    """G.711 (0: PCMU, 8: PCMA) to 16-bit linear."""
    return audioop.alaw2lin(payload, 2) if payload_type == 8 else audioop.ulaw2lin(payload, 2)


def encode(linear: bytes, payload_type: int) -> bytes:
    """16-bit linear to G.711 (0: PCMU, 8: PCMA)."""
    return audioop.lin2alaw(linear, 2) if payload_type == 8 else audioop.lin2ulaw(linear, 2)


def mix(frames: Mapping[str, bytes], graph: Hears) -> dict[str, bytes]:
    """One 20 ms frame for every listener: the sum (clipped at full scale, never wrapped) of the
    linear frames of the parties it hears; a party that has sent nothing this tick adds silence."""
    out: dict[str, bytes] = {}
    for listener, heard in graph.items():
        total = SILENCE
        for party in heard:
            frame = frames.get(party)
            if frame is not None:
                total = audioop.add(total, frame[: len(SILENCE)].ljust(len(SILENCE), b"\x00"), 2)
        out[listener] = total
    return out


def recorded_sides(frames: Mapping[str, bytes]) -> tuple[bytes | None, bytes | None]:
    """What a recording of a mixed call keeps of one tick: (the customer, the company's side: the
    agent and the guests summed). Supervisors are never recorded (coaching is not the call)."""
    side = [frame for party, frame in frames.items() if party == AGENT or party.startswith(GUEST_PREFIX)]
    total = None
    for frame in side:
        frame = frame[: len(SILENCE)].ljust(len(SILENCE), b"\x00")
        total = frame if total is None else audioop.add(total, frame, 2)
    return frames.get(CUSTOMER), total
