"""``cti demo`` walks the whole journey with real phones and says what happened."""

from __future__ import annotations

import re
import subprocess
import sys
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
