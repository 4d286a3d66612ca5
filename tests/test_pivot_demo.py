"""``cti demo`` walks the whole journey with real phones and says what happened."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.pg import free_port


def test_the_demo_pivots_a_tweet_to_a_bridged_call(tmp_path: Path) -> None:
    cti = Path(sys.executable).parent / "cti"
    result = subprocess.run([str(cti), "demo", "--port", str(free_port()), "--talk-seconds", "2"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "a mention on X, signed by X's emulator" in out and "suggested: pivot" in out
    assert "DM to the customer 'Alice at Acme can call you: http://127.0.0.1:" in out
    assert "customer taps 'Call me now' with +358 40 123 4567: 200" in out
    heard = re.search(r"audio: alice heard (\d+) Hz .* the customer heard (\d+) Hz", out)
    assert heard and abs(int(heard.group(1)) - 1000) < 20 and abs(int(heard.group(2)) - 440) < 20, out
    assert "callback.connected" in out and "'connected': 1" in out


def _demo_leftovers(before: set[str]) -> tuple[set[str], list[str]]:
    """Temporary folders the demo made (Kamailio, phones, data) and processes still using them."""
    folders = {str(p) for p in Path(tempfile.gettempdir()).glob("cti-*")} - before
    running = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(folder in cmdline for folder in folders) or ("kamailio" in cmdline and any(
                f.split("/")[-1] in cmdline for f in folders)):
            running.append(cmdline[:120])
    return folders, running


def test_the_kept_demo_stopped_by_sigterm_leaves_nothing_behind(tmp_path: Path) -> None:
    cti = Path(sys.executable).parent / "cti"
    before = {str(p) for p in Path(tempfile.gettempdir()).glob("cti-*")}
    demo = subprocess.Popen([str(cti), "demo", "--keep", "--talk-seconds", "1"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        assert demo.stdout is not None
        for line in demo.stdout:  # (the demo prints as it goes)
            lines.append(line)
            if "running until Ctrl-C" in line:
                break
        else:
            raise AssertionError("".join(lines) + (demo.stderr.read() if demo.stderr else ""))
        folders, running = _demo_leftovers(before)
        assert folders and running, "the demo runs Kamailio and phones from its temporary folders"
        assert re.search(r"server up on http://127\.0\.0\.1:(\d+)", "".join(lines)), "a free port was chosen"
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
    folders, running = _demo_leftovers(before)
    assert folders == set() and running == [], (folders, running)
