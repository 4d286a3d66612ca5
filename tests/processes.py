"""Real ``cti serve`` processes for tests that need them (fuzzing, crash, several nodes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.pg import free_port

CTI = [sys.executable, "-m", "cti.cli"]
SHOP_CHAT_TOML = ('[[channels.custom]]\nname = "shop-chat"\noutbound_url = "http://127.0.0.1:9/x"\n'
                  'secret = "0123456789abcdef"\n')
# tests/harness.py's CALLS as TOML: a Twilio account, so that callback links can be minted
CALLS_TOML = ('[connectors.twilio]\naccount_sid = "AC00000000000000000000000000000000"\n'
              'auth_token = "test-auth-token-0123456789"\nphone_number = "+15550100"\napi_base = "http://127.0.0.1:9"\n')


def cti_command(*args: str, env: dict[str, str] | None = None) -> str:
    """Run a cti subcommand; return its standard output."""
    result = subprocess.run([*CTI, *args], check=True, capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    return result.stdout.strip()


class ServerProcess:
    """One ``cti serve`` process on a free port."""

    def __init__(self, workdir: Path, *, config_text: str = "", env: dict[str, str] | None = None,
                 node_id: str = "node") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.config = workdir / f"{node_id}.toml"
        self.config.write_text(config_text)
        self.log = workdir / f"{node_id}.log"
        self.env = {**os.environ, "CTI_SERVER__PORT": str(self.port), "CTI_SERVER__NODE_ID": node_id,
                    "CTI_SERVER__DATA_DIR": str(workdir / "data"), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        """Run a cti subcommand against this server's configuration and database."""
        return cti_command(*args, "--config", str(self.config), env=self.env)

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait for /readyz."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([*CTI, "serve", "--config", str(self.config)], env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cti serve exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"cti serve not ready: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no cleanup at all."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int | None:
        """SIGTERM and wait (graceful drain)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
