"""Bridged calls through the server's SIP layer (B2BUA) against SIPp, in one run.

    .venv/bin/python -m bench.sip_bridge [--rate 400] [--calls 8000] [--concurrent 500] [--hold 30]

1. Call setups: SIPp's ``uac`` at a fixed rate -> ``bench/sip_b2bua.py`` (answers, places the
   second call, bridges) -> SIPp's ``uas``; and the same uac straight to a SIPp uas as the
   baseline. Printed: calls completed and failed, achieved rate, CPU ms per bridged call.
2. Concurrent bridged calls with media: ``--concurrent`` calls held ``--hold`` seconds through
   the B2BUA to a SIPp uas that echoes RTP (``-rtp_echo``). SIPp's uac streams a PCMU tone into
   all but ``--sample`` of them (``rtp_stream``, in C); this process streams 20 ms packets into
   the sample (each payload carries the call's number, a sequence number and the send time) and
   times them after they cross the relay, come back from SIPp and cross it again. Printed:
   packets relayed, the sample's loss and round trip, the largest gap between packets arriving
   on a call, each call's latest packet, and the CPU of the B2BUA, the probe and SIPp. The
   kernel's default UDP receive buffer is raised for the run (SIPp's one echo socket drops
   bursts otherwise) and restored.
Issue 4's targets: >= 400 call setups/s; 500 concurrent bridged calls with no gap over 60 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import re
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.sip_calls import ensure_sipp, run_uac
from connectors.sip.player import audioop
from sip_test_env.ports import free_port, free_port_pair

GAP_LIMIT = 0.060


def start_b2bua(port: int, target_port: int, *, announce: bool = False,
                probe: tuple[str, int] | None = None) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-m", "bench.sip_b2bua", str(port), str(target_port),
                                *(["--announce"] if announce else []),
                                *(["--probe", f"{probe[0]}:{probe[1]}"] if probe else [])],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    process.stdout.readline()  # "ready"
    return process


def stop_b2bua(process: subprocess.Popen[str]) -> dict[str, float]:
    process.terminate()
    assert process.stderr is not None
    report = process.stderr.read()
    process.wait(10)
    found = re.search(r"bridged (\d+) failed (\d+) peak (\d+) cpu ([\d.]+) relayed (\d+)", report)
    keys = ("bridged", "failed", "peak", "cpu", "relayed")
    return dict(zip(keys, map(float, found.groups()), strict=True)) if found else dict.fromkeys(keys, float("nan"))


def start_uas(port: int, workdir: Path, *, echo: bool = False) -> subprocess.Popen[bytes]:
    args = [ensure_sipp(), "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-ci", "127.0.0.1",
            "-cp", str(free_port()), "-nostdin"]
    if echo:
        args += ["-mi", "127.0.0.1", "-mp", str(free_port_pair()), "-rtp_echo"]
    uas = subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # SIPp gives no readiness signal; early UDP would only be retransmitted
    return uas


def setup_rate(rate: int, calls: int, workdir: Path) -> None:
    uas_port = free_port_pair()
    uas = start_uas(uas_port, workdir)
    uas_cpu = _cpu_of(uas.pid)
    baseline = run_uac(uas_port, rate, calls, workdir)
    uas_cpu = _cpu_of(uas.pid) - uas_cpu
    b2bua_port = free_port_pair()
    b2bua = start_b2bua(b2bua_port, uas_port)
    ours = run_uac(b2bua_port, rate, calls, workdir)
    figures = stop_b2bua(b2bua)
    uas.terminate()
    uas.wait(10)
    print("1. call setups (SIPp uac -> target)")
    for name, run in (("SIPp uas (baseline)", baseline), ("B2BUA -> SIPp uas", ours)):
        achieved = run["successful"] / run["elapsed"] if run["elapsed"] else 0
        print(f"   {name:22s} {run['successful']:6.0f} calls ok, {run['failed']:4.0f} failed, "
              f"{achieved:6.0f} calls/s achieved at {rate}/s offered")
    if baseline["successful"]:
        print(f"   {'':22s} SIPp uas CPU {uas_cpu / baseline['successful'] * 1000:.2f} ms per call (one dialog)")
    if figures["bridged"]:
        per_call = figures["cpu"] / figures["bridged"] * 1000
        print(f"   {'':22s} B2BUA CPU {figures['cpu']:.2f} s for {figures['bridged']:.0f} bridged calls = "
              f"{per_call:.2f} ms per call (two INVITE dialogs, relay set-up): "
              f"{per_call / 2 / max(uas_cpu / max(baseline['successful'], 1) * 1000, 1e-9):.1f}x SIPp's per dialog")


class MediaProbe(asyncio.DatagramProtocol):
    """Streams RTP into every bridged call's leg a and times the echoes that come back."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.ports: list[int] = []
        self.sent = 0
        self.returned = 0
        self.last_arrival: dict[int, float] = {}
        self.max_gap: dict[int, float] = {}
        self.max_latency: dict[int, float] = {}
        self.latencies: list[float] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 24:
            return
        call, _, sent_at = struct.unpack_from("!IId", data, 12)
        now = time.monotonic()
        self.returned += 1
        previous = self.last_arrival.get(call)
        if previous is not None:
            gap = now - previous
            if gap > self.max_gap.get(call, 0.0):
                self.max_gap[call] = gap
        self.last_arrival[call] = now
        latency = now - sent_at
        if latency > self.max_latency.get(call, 0.0):
            self.max_latency[call] = latency
        if self.returned % 50 == 0:
            self.latencies.append(latency)

    async def stream(self, seconds: float) -> None:
        """20 ms frames to every known call for ``seconds``, spread over each 20 ms in 4 slices."""
        loop = asyncio.get_running_loop()
        due, end, sequence = loop.time(), loop.time() + seconds, 0
        filler = b"\xff" * (160 - 16)
        while loop.time() < end:
            ports = list(self.ports)
            for part in range(4):
                for call in range(part, len(ports), 4):
                    header = struct.pack("!BBHII", 0x80, 0, sequence & 0xFFFF, sequence * 160 & 0xFFFFFFFF, call)
                    self.transport.sendto(header + struct.pack("!IId", call, sequence, time.monotonic()) + filler,
                                          ("127.0.0.1", ports[call]))
                    self.sent += 1
                due += 0.005
                await asyncio.sleep(max(0.0, due - loop.time()))
            sequence += 1


def bulk_scenario(workdir: Path) -> Path:
    """SIPp's built-in uac that, once the call is up, streams a 700 Hz PCMU tone over RTP for
    as long as the call lasts (SIPp's ``rtp_stream``, in C, so the load costs Python nothing)."""
    tone = workdir / "tone.ulaw"
    pcm = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 700 * i / 8000))) for i in range(8000))
    tone.write_bytes(audioop.lin2ulaw(pcm, 2))
    builtin = subprocess.run([ensure_sipp(), "-sd", "uac"], capture_output=True, text=True).stdout
    scenario = workdir / "uac_rtp.xml"
    scenario.write_text(builtin.replace("<pause/>", f'<nop><action><exec rtp_stream="{tone},-1,0"/></action></nop>'
                                                   "<pause/>", 1))
    return scenario


async def concurrent_calls(concurrent: int, sample: int, hold: float, workdir: Path) -> None:
    uas_port = free_port_pair()
    uas = start_uas(uas_port, workdir, echo=True)
    probe = MediaProbe()
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: probe, local_addr=("127.0.0.1", 0))
    b2bua_port = free_port_pair()  # the sample calls' leg a is the probe's address (strict latching)
    b2bua = start_b2bua(b2bua_port, uas_port, announce=True, probe=probe.transport.get_extra_info("sockname")[:2])
    all_bridged = asyncio.Event()
    bridged = 0

    async def read_ports() -> None:
        nonlocal bridged
        assert b2bua.stdout is not None
        while True:
            line = await asyncio.to_thread(b2bua.stdout.readline)
            if not line.startswith("port "):
                return
            bridged += 1
            if line.split()[2] == "sample":  # the probe's calls; SIPp streams into the others
                probe.ports.append(int(line.split()[1]))
            if bridged >= concurrent:
                all_bridged.set()

    reader = asyncio.create_task(read_ports())
    bulk, rate = concurrent - sample, 100
    ramp = concurrent / rate
    bulk_uac = asyncio.create_task(asyncio.to_thread(
        run_uac, b2bua_port, rate, bulk, workdir, hold_ms=int((hold + ramp + 4) * 1000),
        scenario=bulk_scenario(workdir), service="bulk"))
    await asyncio.sleep(bulk / rate)
    sample_uac = asyncio.create_task(asyncio.to_thread(
        run_uac, b2bua_port, 20, sample, workdir, hold_ms=int((hold + 4) * 1000), service="sample"))
    try:
        await asyncio.wait_for(all_bridged.wait(), ramp + 20)
    except TimeoutError:
        pass  # measure what did get bridged; the report shows how many
    await asyncio.sleep(1.0)  # SIPp's streams of the last calls are up
    cpu_before, uas_before, own_before = _cpu_of(b2bua.pid), _cpu_of(uas.pid), _own_cpu()
    machine_before = _machine_ticks()
    gc.freeze()  # this probe's own collector pauses would be counted as the relay's gaps
    gc.disable()
    try:
        await probe.stream(hold)
    finally:
        gc.enable()
    machine = [after - before for after, before in zip(_machine_ticks(), machine_before, strict=True)]
    cpu_used = _cpu_of(b2bua.pid) - cpu_before
    uas_used, own_used = _cpu_of(uas.pid) - uas_before, _own_cpu() - own_before
    await asyncio.sleep(0.3)  # the last echoes
    uac_results = [await bulk_uac, await sample_uac]
    figures = stop_b2bua(b2bua)
    reader.cancel()
    uas.terminate()
    uas.wait(10)
    uac_result = {key: sum(r[key] for r in uac_results) for key in ("successful", "failed")}

    gaps = sorted(probe.max_gap.values())
    over = sum(1 for g in gaps if g > GAP_LIMIT)
    worst = sorted(probe.max_latency.values())
    late = sum(1 for w in worst if w > GAP_LIMIT)
    loss = 1 - probe.returned / probe.sent if probe.sent else float("nan")
    lat = sorted(probe.latencies)
    print(f"2. concurrent bridged calls with media ({hold:.0f} s, RTP both ways through the relay)")
    print(f"   calls bridged {bridged} of {concurrent} (peak {figures['peak']:.0f} at once); "
          f"SIPp: {uac_result['successful']:.0f} ok, {uac_result['failed']:.0f} failed")
    print(f"   RTP relayed by the B2BUA over the whole run: {figures['relayed']:.0f} packets; SIPp streams a tone "
          f"into {concurrent - len(probe.ports)} calls, this probe into a sample of {len(probe.ports)}")
    print(f"   sample: {probe.sent} packets sent, {probe.returned} returned after crossing the relay twice "
          f"(loss {loss:.3%})")
    if lat:
        print(f"   round trip: p50 {statistics.median(lat) * 1000:.1f} ms, "
              f"p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms")
    if gaps:
        print(f"   largest gap per call: median {statistics.median(gaps) * 1000:.1f} ms, "
              f"p99 {gaps[int(len(gaps) * 0.99)] * 1000:.1f} ms, max {gaps[-1] * 1000:.1f} ms; "
              f"calls with a gap over {GAP_LIMIT * 1000:.0f} ms: {over} of {len(gaps)}")
        print("   (a gap includes this probe's own send and receive scheduling on the shared cores)")
    if worst:
        print(f"   latest packet per call (round trip, from its send time): "
              f"median {statistics.median(worst) * 1000:.1f} ms, p99 {worst[int(len(worst) * 0.99)] * 1000:.1f} ms, "
              f"max {worst[-1] * 1000:.1f} ms")
        print(f"   calls with a packet over {GAP_LIMIT * 1000:.0f} ms late (behind a 60 ms jitter buffer: a gap): "
              f"{late} of {len(worst)}")
    total = sum(machine) or 1
    print(f"   the machine meanwhile: {machine[3] / total:.0%} idle, {machine[7] / total:.1%} stolen by the "
          f"hypervisor, {(machine[5] + machine[6]) / total:.0%} in interrupts (UDP)")
    print(f"   B2BUA CPU while streaming: {cpu_used / hold:.0%} of a core "
          f"({cpu_used / hold / max(1, bridged) * 1000:.2f} ms per call per second); on the same "
          f"2 cores the probe used {own_used / hold:.0%} and SIPp's echo {uas_used / hold:.0%}")


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 1/100 s


@contextlib.contextmanager
def roomy_udp_buffers(size: int = 4 << 20) -> Iterator[None]:
    """SIPp's echo reads every call's RTP on one socket, which has the kernel's default receive
    buffer (208 kB, no option of SIPp's changes it) and drops ~0.3 % of 25,000 packets/s in
    bursts. As on any media host, the default is raised for the run (root only), then restored."""
    knob = Path("/proc/sys/net/core/rmem_default")
    try:
        before = knob.read_text().strip()
        knob.write_text(str(size))
    except OSError:
        print("   (could not raise net.core.rmem_default: SIPp's echo may drop packets under load)")
        yield
        return
    try:
        yield
    finally:
        knob.write_text(before)


def _machine_ticks() -> list[int]:
    """/proc/stat's cpu line: user nice system idle iowait irq softirq steal."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=400)
    parser.add_argument("--calls", type=int, default=8000)
    parser.add_argument("--concurrent", type=int, default=500)
    parser.add_argument("--hold", type=float, default=30.0)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--skip-setup", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cti-bench-bridge-"))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # two sockets per bridged call (inherited)
    if not args.skip_setup:
        setup_rate(args.rate, args.calls, workdir)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with roomy_udp_buffers():
        asyncio.run(concurrent_calls(args.concurrent, args.sample, args.hold, workdir))
    print("   targets: >= 400 call setups/s; 500 concurrent bridged calls, no gap over 60 ms")


if __name__ == "__main__":
    main()
