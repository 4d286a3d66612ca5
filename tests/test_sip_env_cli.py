"""`python -m sip_test_env up|status|down` starts the environment and leaves nothing running after down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sip_test_env", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "zombie" not in status.lower()


def test_up_status_down(tmp_path: Path) -> None:
    started = run(tmp_path, "up", "--phones", "alice,bob")
    assert started.returncode == 0, started.stderr
    assert 'username = "cti"' in started.stdout
    state = json.loads((tmp_path / ".sip_test_env.json").read_text())
    pids = [state["registrar"]["pid"], *(p["pid"] for p in state["phones"].values())]
    try:
        status = run(tmp_path, "status")
        assert status.returncode == 0 and status.stdout.count("running") == 3, status.stdout
        assert run(tmp_path, "up").returncode == 1  # already up: refuses, changes nothing
    finally:
        assert run(tmp_path, "down").returncode == 0
    assert not any(alive(pid) for pid in pids)
    assert not (tmp_path / ".sip_test_env.json").exists()
    assert run(tmp_path, "status").returncode == 1
