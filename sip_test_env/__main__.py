"""The local telephony environment for demos and manual testing.

    python -m sip_test_env up [--phones alice,bob] [--port 5060]
    python -m sip_test_env status
    python -m sip_test_env down

``up`` starts Kamailio on 127.0.0.1 (users: cti and one per phone, password "<name>pass") and
a baresip phone per name (auto-answer, each playing its own tone), records their PIDs in
``.sip_test_env.json`` in the current folder, prints what to put in ``[connectors.sip]`` and
returns. ``down`` stops exactly those processes and removes their folders. Needs kamailio and
baresip (``./dev test`` installs them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from sip_test_env.kamailio import Registrar
from sip_test_env.phones import Phone

STATE = Path(".sip_test_env.json")
TONES = [440.0, 1000.0, 600.0, 800.0, 1200.0, 300.0]


def up(args: argparse.Namespace) -> int:
    if STATE.exists():
        print(f"already up (see {STATE}); run 'python -m sip_test_env down' first", file=sys.stderr)
        return 1
    names = [n.strip() for n in args.phones.split(",") if n.strip()]
    users = {"cti": "ctipass", **{name: f"{name}pass" for name in names}}
    registrar = Registrar(users, port=args.port or None).start()
    state: dict[str, object] = {"registrar": {"pid": registrar.process.pid if registrar.process else None,
                                              "port": registrar.port, "folder": str(registrar.base)},
                                "phones": {}}
    phones: dict[str, object] = {}
    for index, name in enumerate(names):
        phone = Phone(name, users[name], registrar.port, tone_hz=TONES[index % len(TONES)]).start()
        phone.wait_log("200 OK")
        phones[name] = {"pid": phone.process.pid if phone.process else None, "uri": phone.uri,
                        "control_port": phone.ctrl_port, "tone_hz": phone.tone_hz, "folder": str(phone.base)}
    state["phones"] = phones
    STATE.write_text(json.dumps(state, indent=2))
    print(f"Kamailio on 127.0.0.1:{registrar.port}; phones: {', '.join(names) or 'none'}")
    print(f'[connectors.sip]\nregistrar = "127.0.0.1:{registrar.port}"\nusername = "cti"\npassword = "ctipass"')
    return 0


def status(_args: argparse.Namespace) -> int:
    if not STATE.exists():
        print("down")
        return 1
    state = json.loads(STATE.read_text())
    entries = [("registrar", state["registrar"]), *state["phones"].items()]
    for name, entry in entries:
        print(f"{name:10s} pid {entry['pid']}: {'running' if _alive(entry['pid']) else 'NOT running'}")
    return 0 if all(_alive(entry["pid"]) for _, entry in entries) else 1


def down(_args: argparse.Namespace) -> int:
    if not STATE.exists():
        print("nothing is up")
        return 0
    state = json.loads(STATE.read_text())
    for entry in [*state["phones"].values(), state["registrar"]]:
        pid = entry.get("pid")
        group = entry is state["registrar"]  # Kamailio runs as a process group
        for sig in (signal.SIGTERM, signal.SIGKILL):  # a phone with a call ringing ignores SIGTERM
            if not (pid and _alive(pid)):
                break
            try:
                os.killpg(pid, sig) if group else os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 3
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        shutil.rmtree(entry.get("folder", ""), ignore_errors=True)
    STATE.unlink()
    print("down")
    return 0


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _status(pid)


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return ""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m sip_test_env")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="start Kamailio and phones")
    start.add_argument("--phones", default="alice,bob")
    start.add_argument("--port", type=int, default=0, help="registrar port (default: a free one)")
    sub.add_parser("status", help="are they running")
    sub.add_parser("down", help="stop what 'up' started")
    args = parser.parse_args()
    return {"up": up, "status": status, "down": down}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
