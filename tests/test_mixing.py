"""Who hears whom in every call mode and monitor mode (the one table, on its own), and the mix."""

from __future__ import annotations

import asyncio
import math
import struct
from typing import Any

import pytest

from connectors.media import AGENT, CUSTOMER
from connectors.mixing import CallMode, Monitor, decode, encode, guest, hears, mix, needs_mix, supervisor

G, S = guest("g1"), supervisor("s1")
EVERYONE = (CUSTOMER, AGENT, G, S)


def as_sets(graph: object) -> dict[str, set[str]]:
    return {k: set(v) for k, v in dict(graph).items()}  # type: ignore[call-overload]


@pytest.mark.parametrize(("mode", "expected"), [
    (CallMode.TALKING, {CUSTOMER: {AGENT}, AGENT: {CUSTOMER}}),
    (CallMode.HOLD, {}),
    (CallMode.CONSULT, {AGENT: {G}, G: {AGENT}}),  # the customer hears hold audio, not the colleague
    (CallMode.CONFERENCE, {CUSTOMER: {AGENT, G}, AGENT: {CUSTOMER, G}, G: {CUSTOMER, AGENT}}),
])
def test_each_call_mode(mode: CallMode, expected: dict[str, set[str]]) -> None:
    assert as_sets(hears(mode, (CUSTOMER, AGENT, G))) == expected


def test_listen_hears_both_sides_and_is_heard_by_nobody() -> None:
    graph = as_sets(hears(CallMode.TALKING, EVERYONE, {S: Monitor.LISTEN}))
    assert graph[S] == {CUSTOMER, AGENT}
    assert all(S not in heard for heard in graph.values())
    assert graph[CUSTOMER] == {AGENT} and graph[AGENT] == {CUSTOMER}  # nothing changes for them


def test_whisper_is_heard_by_the_agent_only() -> None:
    graph = as_sets(hears(CallMode.TALKING, (CUSTOMER, AGENT, S), {S: Monitor.WHISPER}))
    assert graph == {CUSTOMER: {AGENT}, AGENT: {CUSTOMER, S}, S: {CUSTOMER, AGENT}}


def test_barge_is_heard_by_everyone_the_agent_talks_with() -> None:
    graph = as_sets(hears(CallMode.CONFERENCE, EVERYONE, {S: Monitor.BARGE}))
    assert graph[CUSTOMER] == {AGENT, G, S} and graph[G] == {CUSTOMER, AGENT, S} and graph[S] == {CUSTOMER, AGENT, G}


def test_a_supervisor_of_a_consult_hears_the_consult_not_the_waiting_customer() -> None:
    graph = as_sets(hears(CallMode.CONSULT, EVERYONE, {S: Monitor.BARGE}))
    assert graph[S] == {AGENT, G} and CUSTOMER not in graph  # the customer hears hold audio only


def test_absent_parties_are_left_out_and_nobody_hears_itself() -> None:
    graph = hears(CallMode.CONFERENCE, (CUSTOMER, AGENT), {S: Monitor.BARGE})
    assert as_sets(graph) == {CUSTOMER: {AGENT}, AGENT: {CUSTOMER}}
    assert not needs_mix(graph)
    assert needs_mix(hears(CallMode.CONFERENCE, (CUSTOMER, AGENT, G)))
    for mode in CallMode:
        for how in Monitor:
            assert all(p not in heard for p, heard in hears(mode, EVERYONE, {S: how}).items())


def tone(hz: float, level: float = 8000) -> bytes:
    return b"".join(struct.pack("<h", int(level * math.sin(2 * math.pi * hz * n / 8000))) for n in range(160))


def strength(linear: bytes, hz: float) -> float:
    """How much of one frequency a frame holds (a single DFT bin)."""
    samples = struct.unpack(f"<{len(linear) // 2}h", linear)
    re = sum(s * math.cos(2 * math.pi * hz * n / 8000) for n, s in enumerate(samples))
    im = sum(s * math.sin(2 * math.pi * hz * n / 8000) for n, s in enumerate(samples))
    return math.hypot(re, im) / len(samples)


def test_a_mix_carries_every_heard_party_and_never_the_listener() -> None:
    frames = {CUSTOMER: tone(400), AGENT: tone(1000), G: tone(2000)}
    through_g711 = {p: decode(encode(f, 0), 0) for p, f in frames.items()}
    out = mix(through_g711, hears(CallMode.CONFERENCE, frames))
    assert strength(out[CUSTOMER], 1000) > 2000 and strength(out[CUSTOMER], 2000) > 2000
    assert strength(out[CUSTOMER], 400) < 200  # not its own voice back
    loud = mix({AGENT: tone(1000, 30000), G: tone(1000, 30000)}, {CUSTOMER: frozenset({AGENT, G})})[CUSTOMER]
    peak = max(abs(s) for s in struct.unpack("<160h", loud))
    assert peak == 32767 or peak == 32768  # clipped at full scale, not wrapped around
    assert mix({}, {CUSTOMER: frozenset({AGENT})})[CUSTOMER] == b"\x00\x00" * 160  # silence when nobody sent


class TonePhone(asyncio.DatagramProtocol):
    """A party at the bridge: sends one tone as PCMU RTP every 20 ms, keeps what it hears."""

    def __init__(self, hz: float) -> None:
        self.hz, self.heard, self.sequence = hz, bytearray(), 0
        self.transport: Any = None
        self.target: tuple[str, int] | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > 12 and data[1] & 0x7F == 0:
            self.heard += decode(data[12:], 0)

    @property
    def address(self) -> tuple[str, int]:
        return self.transport.get_extra_info("sockname")[:2]

    def send_frame(self) -> None:
        stamp = (self.sequence * 160) & 0xFFFFFFFF
        header = struct.pack("!BBHII", 0x80, 0, self.sequence & 0xFFFF, stamp, 7 + int(self.hz))
        self.sequence += 1
        if self.target is not None:
            self.transport.sendto(header + encode(tone(self.hz, 6000), 0), self.target)

    def hears_since(self, start: int) -> dict[float, float]:
        """How strong each test frequency is in what it heard after byte ``start`` (average over frames)."""
        audio = bytes(self.heard[start:])
        frames = [audio[i:i + 320] for i in range(0, len(audio) - 319, 320)] or [b"\x00" * 320]
        return {hz: sum(strength(f, hz) for f in frames) / len(frames) for hz in FREQUENCIES.values()}


FREQUENCIES = {CUSTOMER: 400.0, AGENT: 1000.0, G: 1600.0, S: 2200.0}


async def talk(phones: dict[str, TonePhone], seconds: float) -> dict[str, int]:
    """Every phone sends its tone for a while; where each one's recording stood when it began."""
    marks = {name: len(p.heard) for name, p in phones.items()}
    for _ in range(int(seconds / 0.02)):
        for phone in phones.values():
            phone.send_frame()
        await asyncio.sleep(0.02)
    return marks


async def four_parties() -> tuple[Any, dict[str, TonePhone]]:
    """A call's bridge with a customer, an agent, a guest and a supervisor, each a socket sending its tone."""
    from connectors.sip.bridge import CallBridge

    bridge = CallBridge("127.0.0.1")
    ports = dict(zip((CUSTOMER, AGENT), await bridge.open(), strict=True))
    ports[G], ports[S] = await bridge.open_party(G), await bridge.open_party(S)
    loop = asyncio.get_running_loop()
    phones: dict[str, TonePhone] = {}
    for name, hz in FREQUENCIES.items():
        _, phone = await loop.create_datagram_endpoint(lambda hz=hz: TonePhone(hz), local_addr=("127.0.0.1", 0))
        phone.target = ("127.0.0.1", ports[name])
        bridge.add_party(name, phone.address)
        phones[name] = phone
    return bridge, phones


async def test_the_bridge_mixes_a_conference_and_a_whisper_with_real_rtp() -> None:
    bridge, phones = await four_parties()
    try:
        bridge.connect(hears(CallMode.CONFERENCE, FREQUENCIES, {S: Monitor.LISTEN}))
        start = await talk(phones, 1.0)
        heard = {name: phone.hears_since(start[name] + 8000) for name, phone in phones.items()}  # (skip 0.25 s)
        for name in (CUSTOMER, AGENT, G):
            others = [FREQUENCIES[o] for o in (CUSTOMER, AGENT, G) if o != name]
            assert all(heard[name][hz] > 400 for hz in others), (name, heard[name])
            assert heard[name][FREQUENCIES[name]] < 150 and heard[name][FREQUENCIES[S]] < 150, (name, heard[name])
        assert all(heard[S][FREQUENCIES[o]] > 400 for o in (CUSTOMER, AGENT, G)), heard[S]  # listen hears all

        bridge.remove_party(G)
        bridge.connect(hears(CallMode.TALKING, (CUSTOMER, AGENT, S), {S: Monitor.WHISPER}))
        start = await talk(phones, 1.0)
        customer = phones[CUSTOMER].hears_since(start[CUSTOMER] + 8000)
        agent = phones[AGENT].hears_since(start[AGENT] + 8000)
        assert agent[FREQUENCIES[S]] > 400 and agent[FREQUENCIES[CUSTOMER]] > 400, agent  # coached while talking
        assert customer[FREQUENCIES[S]] < 150 and customer[FREQUENCIES[AGENT]] > 400, customer  # never the supervisor

        bridge.remove_party(S)
        bridge.connect(hears(CallMode.TALKING, (CUSTOMER, AGENT)))  # two parties again: packets relayed untouched
        assert bridge.mixer is None
        start = await talk(phones, 0.6)
        assert phones[CUSTOMER].hears_since(start[CUSTOMER] + 4000)[FREQUENCIES[AGENT]] > 400
    finally:
        bridge.close()
        for phone in phones.values():
            phone.transport.close()


async def test_a_paused_stretch_leaves_nothing_in_the_recording(tmp_path: Any) -> None:
    """The customer says something else (1700 Hz) only while the recording is paused: the file has
    the rest (1000 Hz) and nothing of that, not even its length."""
    from connectors.sip.bridge import CallBridge
    from sip_test_env.phones import tone_levels

    bridge = CallBridge("127.0.0.1")
    ports = dict(zip((CUSTOMER, AGENT), await bridge.open(), strict=True))
    loop = asyncio.get_running_loop()
    phones: dict[str, TonePhone] = {}
    for name, hz in ((CUSTOMER, 1000.0), (AGENT, 440.0)):
        _, phone = await loop.create_datagram_endpoint(lambda hz=hz: TonePhone(hz), local_addr=("127.0.0.1", 0))
        phone.target = ("127.0.0.1", ports[name])
        bridge.add_party(name, phone.address)
        phones[name] = phone
    path = tmp_path / "call.wav"
    try:
        bridge.record(path)
        await talk(phones, 1.0)
        assert bridge.recorder is not None
        bridge.recorder.pause()
        phones[CUSTOMER].hz = 1700.0  # the card number
        await talk(phones, 1.5)
        phones[CUSTOMER].hz = 1000.0
        bridge.recorder.resume()
        await talk(phones, 1.0)
    finally:
        seconds = bridge.close()
        for phone in phones.values():
            phone.transport.close()
    assert seconds is not None and 1.7 < seconds < 2.4, seconds  # 2 s recorded, the 1.5 s pause left out
    assert bridge.recorder is not None and len(bridge.recorder.paused) == 1
    start, end = bridge.recorder.paused[0]
    assert 1.3 < end - start < 1.8
    levels = tone_levels(channel(path, 0, tmp_path / "left.wav"), [1000.0, 1700.0], skip_seconds=0.1)
    assert levels[1000.0] == 1.0 and levels[1700.0] < 0.02, levels


def channel(path: Any, index: int, out: Any) -> Any:
    """One channel of a stereo WAV as its own mono file (0: the customer, 1: the agent's side)."""
    import wave

    with wave.open(str(path)) as recording, wave.open(str(out), "wb") as mono:
        frames = recording.readframes(recording.getnframes())
        mono.setnchannels(1), mono.setsampwidth(2), mono.setframerate(8000)
        mono.writeframes(b"".join(frames[i + 2 * index:i + 2 * index + 2] for i in range(0, len(frames), 4)))
    return out


async def test_a_recorded_conference_keeps_the_guests_and_never_the_supervisor(tmp_path: Any) -> None:
    """Recorded from the start: while two parties talk the relay's packets are kept, while the call
    is mixed the mixer's frames: the guest joins the agent's side, the whispering supervisor is in
    neither channel."""
    from sip_test_env.phones import tone_levels

    bridge, phones = await four_parties()
    path = tmp_path / "call.wav"
    try:
        bridge.record(path)
        bridge.connect(hears(CallMode.TALKING, (CUSTOMER, AGENT)))
        await talk(phones, 1.0)
        bridge.connect(hears(CallMode.CONFERENCE, FREQUENCIES, {S: Monitor.WHISPER}))
        await talk(phones, 1.5)
    finally:
        seconds = bridge.close()
        for phone in phones.values():
            phone.transport.close()
    assert seconds is not None and 2.2 < seconds < 2.9, seconds  # one recording across relayed and mixed
    customer = tone_levels(channel(path, 0, tmp_path / "0.wav"), list(FREQUENCIES.values()), skip_seconds=0.1)
    relayed = tone_levels(channel(path, 1, tmp_path / "1.wav"), list(FREQUENCIES.values()), skip_seconds=0.1,
                          until_seconds=0.9)
    mixed = tone_levels(tmp_path / "1.wav", list(FREQUENCIES.values()), skip_seconds=1.3)
    supervisor, guest = FREQUENCIES[S], FREQUENCIES[G]
    assert customer[FREQUENCIES[CUSTOMER]] > 0.5 and customer[supervisor] < 0.02, customer
    assert relayed[FREQUENCIES[AGENT]] > 0.5 and relayed[guest] < 0.02, relayed
    assert mixed[FREQUENCIES[AGENT]] > 0.3 and mixed[guest] > 0.3 and mixed[supervisor] < 0.02, mixed
