"""A real SIP registrar/proxy on loopback: Kamailio 5.6 from Debian, users from a dict, no database.

Users are seeded into an htable at start. REGISTER is challenged with 401 when auth is on;
INVITEs from local users are challenged with 401 (``invite_auth="www"``) or 407 as an RFC 3261
proxy does (``invite_auth="proxy"``). Requests to registered users are relayed to their
contact; in-dialog requests are routed by the location table too (no Record-Route), which is
what the phones here need. Readiness is an OPTIONS answered 200, not a sleep.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from sip_test_env.ports import free_port_pair

MODULES = ("kex", "corex", "tm", "tmx", "sl", "rr", "pv", "maxfwd", "usrloc", "registrar", "textops", "siputils",
           "xlog", "sanity", "htable", "auth")
CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
mpath="{mpath}"
{loads}
modparam("htable", "htable", "users=>size=8;")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "min_expires", 10)

event_route[htable:mod-init] {{
{users}
}}

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (!sanity_check("1511", "7")) {{ exit; }}
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {{ sl_send_reply("200", "Ready"); exit; }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (!is_method("ACK")) {{ t_check_trans(); }}
    if (has_totag()) {{
        if (is_method("ACK") && t_check_trans()) {{ t_relay(); exit; }}
        lookup("location");
        t_relay();
        exit;
    }}
    if (is_method("REGISTER")) {{
        if ({auth} && !pv_www_authenticate("$td", "$sht(users=>$tU)", "0")) {{ www_challenge("$td", "0"); exit; }}
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("INVITE|MESSAGE|REFER|SUBSCRIBE") && $sht(users=>$fU) != $null && $fd == "127.0.0.1") {{
        {invite_auth}
        consume_credentials();
    }}
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    t_relay();
}}
"""
INVITE_AUTH = {
    "none": "",
    "www": 'if (!pv_www_authenticate("$fd", "$sht(users=>$fU)", "0")) { www_challenge("$fd", "0"); exit; }',
    "proxy": 'if (!pv_proxy_authenticate("$fd", "$sht(users=>$fU)", "0")) { proxy_challenge("$fd", "0"); exit; }',
}


class Registrar:
    """Kamailio on a free loopback port (UDP and TCP), in a throwaway folder."""

    def __init__(self, users: dict[str, str], *, auth: bool = True,
                 invite_auth: Literal["none", "www", "proxy"] = "none", port: int | None = None) -> None:
        self.users, self.auth, self.invite_auth = users, auth, invite_auth
        self.port = port or free_port_pair()
        self._fixed_port = port is not None
        self.base = Path(tempfile.mkdtemp(prefix="cti-kamailio-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def _config(self) -> str:
        mpath = next((p for p in ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules",
                                  "/usr/lib/aarch64-linux-gnu/kamailio/modules") if os.path.isdir(p)), "")
        users = "\n".join(f'    $sht(users=>{name}) = "{password}";' for name, password in self.users.items())
        return CONFIG.format(port=self.port, mpath=mpath + "/",
                             loads="\n".join(f'loadmodule "{m}.so"' for m in MODULES), users=users,
                             auth="1" if self.auth else "0", invite_auth=INVITE_AUTH[self.invite_auth])

    def start(self) -> Registrar:
        """Start and wait until it answers OPTIONS (on a fresh port if the chosen one was taken meanwhile)."""
        for attempt in range(3):
            try:
                return self._start()
            except RuntimeError:
                self.stop()
                if self._fixed_port or attempt == 2:
                    raise
                self.port = free_port_pair()
        return self

    def _start(self) -> Registrar:
        config = self.base / "kamailio.cfg"
        config.write_text(self._config())
        binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
        self.process = subprocess.Popen([binary, "-f", str(config), "-DD", "-E", "-Y", str(self.base), "-w",
                                         str(self.base)], stdout=subprocess.DEVNULL,
                                        stderr=(self.base / "kamailio.log").open("wb"), start_new_session=True)
        deadline = time.monotonic() + 15
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Kamailio did not start: {self.log_tail()}")
            time.sleep(0.02)
        return self

    def ready(self) -> bool:
        """True when an OPTIONS to the registrar itself is answered 200."""
        return self.options(None, wait=0.2).startswith(b"SIP/2.0 200")

    def options(self, user: str | None, *, wait: float = 2.0) -> bytes:
        """Send OPTIONS to the registrar (for sip:user@127.0.0.1, which it relays to the registered
        contact, or for itself when user is None); the raw answer, or b"" when none came."""
        target = f"sip:{user}@127.0.0.1" if user else f"sip:127.0.0.1:{self.port}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(wait)
            port = sock.getsockname()[1]
            sock.sendto((f"OPTIONS {target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};"
                         f"branch=z9hG4bK{uuid.uuid4().hex[:12]};rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\n"
                         f"To: <{target}>\r\nCall-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\n"
                         "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(), self.address)
            try:
                return sock.recvfrom(65535)[0]
            except OSError:
                return b""

    def stop(self) -> None:
        """Stop Kamailio (all its processes)."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
            except ProcessLookupError:
                pass
            self.process = None

    def resume(self) -> None:
        """Start again after stop(), on the same port (registrations are lost, as on a real restart)."""
        self._start()

    def restart(self) -> None:
        self.stop()
        self.resume()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        path = self.base / "kamailio.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def __enter__(self) -> Registrar:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
