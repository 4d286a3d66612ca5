"""Call setups per second through the server's SIP layer, against SIPp in the same run.

    .venv/bin/python -m bench.sip_calls [--rate 400] [--calls 8000]

SIPp's built-in ``uac`` scenario (INVITE, 100/180 optional, 200, ACK, BYE, 200) runs at a fixed
rate against (1) SIPp's own ``uas`` and (2) ``bench/sip_uas.py``, which answers on the
server's transaction layer, dialogs and endpoint (the code the SIP connector runs). Printed per
target: calls completed, failed, achieved rate, and CPU seconds per call of the answering side.
Issue 4's target: at least 400 call setups/s. SIPp (Debian's sip-tester) is installed when missing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sip_test_env.ports import free_port, free_port_pair


def ensure_sipp() -> str:
    found = shutil.which("sipp")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "sip-tester"], check=True,
                   capture_output=True)
    return shutil.which("sipp") or "sipp"


def run_uac(target_port: int, rate: int, calls: int, workdir: Path, *, hold_ms: int = 0,
            scenario: Path | None = None, service: str = "cti") -> dict[str, float]:
    """SIPp uac (or another scenario) against 127.0.0.1:target_port, calls held ``hold_ms``;
    counts from its final statistics."""
    started = time.monotonic()
    screen_file = workdir / f"screen-{service}.log"
    which = ["-sf", str(scenario), "-mi", "127.0.0.1", "-mp", str(free_port_pair())] if scenario else ["-sn", "uac"]
    result = subprocess.run(
        [ensure_sipp(), *which, f"127.0.0.1:{target_port}", "-s", service, "-i", "127.0.0.1",
         "-p", str(free_port_pair()), "-ci", "127.0.0.1", "-cp", str(free_port()), "-r", str(rate),
         "-m", str(calls), "-l", str(max(rate * 4, calls if hold_ms else 0)), "-d", str(hold_ms),
         "-recv_timeout", "10000", "-timeout", str(120 + hold_ms // 1000),
         "-nostdin", "-trace_screen", "-screen_file", str(screen_file)],
        capture_output=True, text=True, cwd=workdir)
    elapsed = time.monotonic() - started
    screen = screen_file.read_text(errors="replace") if screen_file.exists() else ""
    successful = _counter(screen, "Successful call")
    failed = _counter(screen, "Failed call")
    return {"elapsed": elapsed, "successful": successful, "failed": failed, "exit": float(result.returncode)}


def _counter(screen: str, name: str) -> float:
    matches = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    return float(matches[-1]) if matches else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=400)
    parser.add_argument("--calls", type=int, default=8000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cti-bench-sip-"))

    port = free_port_pair()
    uas = subprocess.Popen([ensure_sipp(), "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-ci", "127.0.0.1",
                            "-cp", str(free_port()), "-nostdin"], cwd=workdir, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # SIPp gives no readiness signal; UDP to a port not yet bound would only be retransmitted
    baseline = run_uac(port, args.rate, args.calls, workdir)
    uas.terminate()
    uas.wait(10)

    port = free_port_pair()
    server = subprocess.Popen([sys.executable, "-m", "bench.sip_uas", str(port)], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    server.stdout.readline()  # "ready"
    ours = run_uac(port, args.rate, args.calls, workdir)
    server.terminate()
    report = server.stdout.read()
    server.wait(10)
    cpu = float(re.search(r"cpu ([\d.]+)", report).group(1)) if "cpu" in report else float("nan")

    for name, figures in (("SIPp uas (baseline)", baseline), ("server SIP layer", ours)):
        rate = figures["successful"] / figures["elapsed"] if figures["elapsed"] else 0
        print(f"{name:22s} {figures['successful']:6.0f} calls ok, {figures['failed']:4.0f} failed, "
              f"{rate:6.0f} calls/s achieved at {args.rate}/s offered ({figures['elapsed']:.1f} s)")
    if ours["successful"]:
        print(f"{'':22s} server CPU: {cpu:.2f} s for {ours['successful']:.0f} calls = "
              f"{cpu / ours['successful'] * 1000:.2f} ms per call (INVITE, ACK, BYE)")
    print(f"{'':22s} target: >= 400 call setups/s with no failures")


if __name__ == "__main__":
    main()
