"""Start a throwaway PostgreSQL (Debian's server binaries) on a free loopback port."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


def find_postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin with initdb, or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """initdb + postgres in a temp folder, as the postgres user when run as root."""

    def __init__(self, base: Path | None = None) -> None:
        self.bin = find_postgres_bin()
        assert self.bin is not None
        # Its own folder under /tmp: pytest's temp folders are private to root, and PostgreSQL refuses root.
        self.base = base or Path(tempfile.mkdtemp(prefix="cti-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            shutil.chown(self.base, pw.pw_uid, pw.pw_gid)
            self._prefix = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._prefix, *args], check=True, capture_output=True)

    def start(self) -> None:
        """initdb, start, wait until it accepts connections."""
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.process = subprocess.Popen(
            [*self._prefix, str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-h", "127.0.0.1", "-k", str(self.base), "-c", "fsync=off", "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                if subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                                  capture_output=True).returncode == 0:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("PostgreSQL did not start")

    def create_database(self) -> str:
        """A new database; its SQLAlchemy URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        subprocess.run([str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                        "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Stop the server."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.base, ignore_errors=True)
