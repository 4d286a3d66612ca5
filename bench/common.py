"""Shared pieces of the benchmarks: server processes, a bare aiohttp baseline, wrk runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.pg import free_port
from tests.processes import SHOP_CHAT_TOML, ServerProcess

BARE_HELLO = """
import sys
from aiohttp import web
import uvloop
async def hello(request):
    return web.json_response({"hello": "world"})
app = web.Application()
app.router.add_get("/hello", hello)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def ensure_wrk() -> str:
    """The wrk load generator (Debian's package), installed when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


class BareHello:
    """A bare aiohttp 'hello' endpoint in its own process: the baseline figures are relative to."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen([sys.executable, "-c", BARE_HELLO, str(self.port)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url, timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("bare hello did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hello"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def start_server(extra_toml: str = "", env: dict[str, str] | None = None) -> ServerProcess:
    """A cti serve process with the shop-chat custom channel, in a fresh folder."""
    workdir = Path(tempfile.mkdtemp(prefix="cti-bench-"))
    server = ServerProcess(workdir, config_text=SHOP_CHAT_TOML + extra_toml, env=env or {}, node_id="bench")
    return server


def run_wrk(url: str, *, seconds: int, connections: int, threads: int = 1, script: str | None = None,
            headers: dict[str, str] | None = None) -> dict[str, float]:
    """Run wrk; return requests/s, p50/p99 latency (ms), and request and error counts."""
    args = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script or "")
    if script:
        args += ["-s", lua.name]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        match = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(match.group(1)), match.group(2)
        result[f"p{pct}_ms"] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    result["requests"] = float(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = float(errors.group(1)) if errors else 0.0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    result["socket_errors"] = socket_errors.group(1) if socket_errors else "none"  # type: ignore[assignment]
    return result
