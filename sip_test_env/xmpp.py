"""A real XMPP server on loopback: Prosody 0.12 from Debian, with throwaway accounts.

Prosody refuses to run as root, so as root it runs as the ``prosody`` user (setpriv) from a
folder that user owns. Plain-text c2s on a free port, no s2s, offline storage on (a reply to a
customer who is offline waits on the server, as on a real deployment). Used by the tests,
the benchmarks and the demo.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sip_test_env.certs import self_signed
from sip_test_env.ports import free_port, wait_listening

DOMAIN = "localhost"
CONFIG = """\
pidfile = "{base}/prosody.pid"
data_path = "{base}/data"
log = {{ info = "{base}/prosody.log" }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
{tls}
authentication = "internal_plain"
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "presence"; "message"; "offline"; "posix"{tls_module} }}
modules_disabled = {{ "s2s" }}
daemonize = false
limits = {{ c2s = {{ rate = "10mb/s" }} }}
VirtualHost "{domain}"
"""


class XmppServer:
    """Prosody with the given accounts (name -> password) on a free loopback port."""

    def __init__(self, accounts: dict[str, str] | None = None, *, tls: bool = False) -> None:
        """tls: require STARTTLS with a self-signed certificate (``cert``) valid for localhost."""
        self.accounts = accounts or {"support": "supportpass", "customer": "customerpass"}
        self.tls = tls
        self.cert: Path | None = None
        self.base = Path(tempfile.mkdtemp(prefix="cti-xmpp-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("prosody")
            self._prefix = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"]
            self._owner = (user.pw_uid, user.pw_gid)
        else:
            self._owner = (os.getuid(), os.getgid())

    def jid(self, account: str) -> str:
        """account@localhost"""
        return f"{account}@{DOMAIN}"

    @property
    def config_path(self) -> Path:
        return self.base / "prosody.cfg.lua"

    def start(self) -> XmppServer:
        """Write the config, create the accounts, start, wait until c2s listens."""
        (self.base / "data").mkdir(exist_ok=True)
        tls, tls_module = "c2s_require_encryption = false\nallow_unencrypted_plain_auth = true", ""
        owned = [self.base, self.base / "data", self.config_path]
        if self.tls:
            self.cert, key = self_signed(self.base)
            tls = f'c2s_require_encryption = true\nssl = {{ certificate = "{self.cert}"; key = "{key}" }}'
            tls_module = '; "tls"'
            owned += [self.cert, key]
        self.config_path.write_text(CONFIG.format(base=self.base, port=self.port, domain=DOMAIN, tls=tls,
                                                  tls_module=tls_module))
        for path in owned:
            os.chown(path, *self._owner)
        for account, password in self.accounts.items():
            subprocess.run([*self._prefix, "prosodyctl", "--config", str(self.config_path), "register", account,
                            DOMAIN, password], check=True, capture_output=True, timeout=30)
        self._launch()
        return self

    def _launch(self) -> None:
        self.process = subprocess.Popen([*self._prefix, "prosody", "--config", str(self.config_path), "-F"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(self.port, what="Prosody")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; log: {self.log_tail()}") from None

    def stop_server(self) -> None:
        """Stop Prosody (accounts and offline messages stay on disk)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None

    def restart(self) -> None:
        """Start Prosody again on the same port."""
        self.stop_server()
        deadline = time.monotonic() + 10
        while True:
            try:
                self._launch()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop and remove the folder."""
        self.stop_server()
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        path = self.base / "prosody.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def __enter__(self) -> XmppServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
