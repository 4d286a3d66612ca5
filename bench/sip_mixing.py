"""Mixed calls on the SIP bridge: three-party conferences and calls with a listening supervisor.

    .venv/bin/python -m bench.sip_mixing [--conferences 50] [--listens 100] [--seconds 20]

This process holds the bridges (``connectors/sip/bridge.py``, on uvloop like the server): every
conference has a customer, an agent and a guest who all hear each other (each party hears a mix
of two); every monitored call has a customer and an agent talking (relayed untouched: one party
hears one) and a supervisor who listens (hears a mix of both, heard by nobody). A second process
plays every party: it sends a 20 ms G.711 frame per party every 20 ms and timestamps what each
party receives. Printed: parties, packets sent and received, the largest gap between two packets
arriving at any party (target: no gap over 60 ms), loss, the mixers' late ticks, and the mixing
cost: the bridge process's CPU per mixed party per second, and the mixer's own busy time.
Issue 19's targets: 50 simultaneous three-party conferences and 100 listening supervisors on
this 2-core machine with no gap over 60 ms and no loss.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import struct
import time
from typing import Any

WARMUP = 2.0  # seconds before gaps and loss count (sockets open, mixers start)


def _parties(ports: list[int], seconds: float, results: Any) -> None:
    """The far ends: one UDP socket per party, a frame every 20 ms, arrivals timed."""
    import uvloop

    async def run() -> None:
        loop = asyncio.get_running_loop()
        frame = bytes([0xFF]) * 160  # PCMU silence-ish: the mixer decodes and encodes it all the same

        class Party(asyncio.DatagramProtocol):
            def __init__(self) -> None:
                self.last = 0.0
                self.gap = 0.0
                self.received = 0
                self.transport: Any = None

            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                now = time.monotonic()
                if now - start > WARMUP:
                    if self.last:
                        self.gap = max(self.gap, now - self.last)
                    self.received += 1
                self.last = now

        parties: list[Party] = []
        for port in ports:
            _, party = await loop.create_datagram_endpoint(Party, local_addr=("127.0.0.1", 0),
                                                           remote_addr=("127.0.0.1", port))
            parties.append(party)
        results.put([p.transport.get_extra_info("sockname")[1] for p in parties])
        start = time.monotonic()
        sequence, due, sent = 0, loop.time(), 0
        while time.monotonic() - start < seconds:
            header = struct.pack("!BBHII", 0x80, 0, sequence & 0xFFFF, (sequence * 160) & 0xFFFFFFFF, 1234)
            for party in parties:
                party.transport.sendto(header + frame)
            if time.monotonic() - start > WARMUP:
                sent += 1
            sequence += 1
            due += 0.02
            await asyncio.sleep(max(0.0, due - loop.time()))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        results.put({"gaps": [p.gap for p in parties], "received": [p.received for p in parties], "frames": sent,
                     "cpu": usage.ru_utime + usage.ru_stime})

    uvloop.run(run())


async def run(conferences: int, listens: int, seconds: float) -> None:
    from connectors.media import AGENT, CUSTOMER
    from connectors.mixing import CallMode, Monitor, guest, hears, supervisor
    from connectors.sip.bridge import CallBridge

    bridges: list[tuple[CallBridge, list[str]]] = []
    ports: list[int] = []
    for n in range(conferences):
        bridge = CallBridge("127.0.0.1")
        names = [CUSTOMER, AGENT, guest(f"g{n}")]
        ports += [*await bridge.open(), await bridge.open_party(names[2])]
        bridges.append((bridge, names))
    for n in range(listens):
        bridge = CallBridge("127.0.0.1")
        names = [CUSTOMER, AGENT, supervisor(f"s{n}")]
        ports += [*await bridge.open(), await bridge.open_party(names[2])]
        bridges.append((bridge, names))
    results: Any = multiprocessing.get_context("spawn").Queue()
    far = multiprocessing.get_context("spawn").Process(target=_parties, args=(ports, seconds, results))
    far.start()
    addresses = await asyncio.to_thread(results.get, True, 60)
    index = 0
    for bridge, names in bridges:
        for name in names:
            bridge.add_party(name, ("127.0.0.1", addresses[index]))
            index += 1
        monitors = {names[2]: Monitor.LISTEN} if names[2].startswith("supervisor:") else {}
        mode = CallMode.CONFERENCE if not monitors else CallMode.TALKING
        bridge.connect(hears(mode, names, monitors))
    await asyncio.sleep(WARMUP)  # what counts starts with the far end's count
    mixers = [b.mixer for b, _ in bridges if b.mixer is not None]
    for mixer in mixers:
        mixer.late_ticks, mixer.worst_gap, mixer.busy_seconds = 0, 0.0, 0.0
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic()
    outcome = await asyncio.to_thread(results.get, True, seconds + 60)
    after = resource.getrusage(resource.RUSAGE_SELF)
    elapsed = time.monotonic() - wall
    far.join(10)
    mixed_parties = 3 * conferences + listens  # parties who hear a mix (a listen call's customer and agent do not)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    busy = sum(m.busy_seconds for m in mixers)
    frames = outcome["frames"]
    loss = [max(0, frames - 1 - r) for r in outcome["received"]]  # every party hears someone: one frame per tick
    for bridge, _ in bridges:
        bridge.close()
    print(f"{conferences} three-party conferences + {listens} calls with a listening supervisor: "
          f"{len(addresses)} parties, {frames} frames each after a {WARMUP:.0f} s warm-up, {elapsed:.1f} s")
    print(f"largest gap between packets at any party: {max(outcome['gaps']) * 1000:.1f} ms "
          f"(target <= 60 ms); frames lost: {sum(loss)} of {frames * len(loss)}")
    print(f"mixers: {len(mixers)}, late ticks (a tick > 60 ms after the last): {sum(m.late_ticks for m in mixers)}, "
          f"worst tick gap {max((m.worst_gap for m in mixers), default=0) * 1000:.1f} ms")
    print(f"bridge process CPU: {cpu:.2f} s in {elapsed:.1f} s ({100 * cpu / elapsed:.0f} % of one core); "
          f"per mixed party per second: {1000 * cpu / elapsed / mixed_parties:.3f} ms CPU "
          f"(the mixer's own decode-sum-encode: {1000 * busy / elapsed / mixed_parties:.3f} ms); "
          f"far-end process CPU {outcome['cpu']:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conferences", type=int, default=50)
    parser.add_argument("--listens", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    import uvloop

    uvloop.run(run(args.conferences, args.listens, args.seconds))


if __name__ == "__main__":
    main()
