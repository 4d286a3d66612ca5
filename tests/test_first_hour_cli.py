"""What a newcomer reads first: ``cti serve``'s start-up lines and its one-line answers to the usual
mistakes (exit code 2, no traceback), the CLI's help and tables, and the index page."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.harness import make_config, running_server
from tests.pg import free_port

CTI = str(Path(sys.executable).parent / "cti")


def run(*args: str, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    return subprocess.run([CTI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**clean, **(env or {})})


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_a_busy_port_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(run("serve", "--port", str(port), cwd=tmp_path))
    assert f"port {port}" in line and "--port" in line and "CTI_SERVER__PORT" in line
    assert not (tmp_path / "data").exists(), "nothing was started or created"


def test_database_mistakes_are_one_line_naming_the_setting(tmp_path: Path) -> None:
    port = str(free_port())
    for url, words in (("postgresql+asyncpg://nobody@127.0.0.1:1/cti", "cannot be reached"),
                       ("postgresql://nobody@127.0.0.1:1/cti", "driver"),
                       ("postgres://nobody@127.0.0.1/cti", "not a database URL"),
                       ("mysql+aiomysql://x@127.0.0.1/cti", "driver")):
        line = one_line_error(run("serve", "--port", port, "--database-url", url, cwd=tmp_path))
        assert words in line and "database_url" in line and "CTI_SERVER__DATABASE_URL" in line, line


def test_a_bad_environment_variable_is_named_as_the_variable(tmp_path: Path) -> None:
    line = one_line_error(run("serve", cwd=tmp_path, env={"CTI_SERVER__PROT": "9000"}))
    assert "CTI_SERVER__PROT" in line and "unknown setting" in line
    line = one_line_error(run("serve", cwd=tmp_path, env={"CTI_SERVER__PORT": "eighty"}))
    assert "CTI_SERVER__PORT" in line


def test_serve_says_listening_when_it_is_and_how_to_sign_in(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen([CTI, "serve", "--port", str(port)], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        lines: list[str] = []
        for line in server.stdout:
            lines.append(line)
            if "listening on" in line:
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    pass  # bound when it says so
                break
        nxt = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/desk" in nxt and "cti token create --role admin" in nxt, nxt
        text = "".join(lines)
        assert "alembic" not in text and "heap frozen" not in text, text
        assert (tmp_path / "data" / "cti.db").exists(), "the schema was ready before"
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0


def test_cli_help_tables_and_token_revoke(tmp_path: Path) -> None:
    for command in (["serve"], ["token", "create"], ["agent", "add"], ["demo"], ["receiver"]):
        result = run(*command, "--help", cwd=tmp_path)
        assert result.returncode == 0
        options = [line for line in result.stdout.splitlines() if line.startswith("  -") and "--help" not in line]
        assert options, command
        for line in result.stdout.split("options:")[1].split("\n  -")[2:]:
            assert len(line.split(None, 1)) > 1 or "," in line, (command, line)
    assert "No agents yet".lower() in run("agent", "list", cwd=tmp_path).stdout.lower()
    assert run("agent", "add", "Ann Example", "--id", "ann", "--skill", "fi=2", cwd=tmp_path).returncode == 0
    assert run("agent", "add", "Ann Example", "--id", "ann", "--exist-ok", cwd=tmp_path).returncode == 0
    table = run("agent", "list", cwd=tmp_path).stdout.splitlines()
    assert table[0].split() == ["ID", "STATE", "NAME", "VOICE", "ENDPOINT", "SKILLS"]
    assert table[1].split()[:2] == ["ann", "offline"] and table[1].endswith("fi=2")
    created = run("token", "create", "--role", "agent", "--agent", "ann", "--expires-in", "3600", "--json",
                  cwd=tmp_path)
    assert '"expires_at"' in created.stdout
    token_id = created.stdout.split('"id":"')[1].split('"')[0]
    revoked = run("token", "revoke", token_id, cwd=tmp_path)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout


async def test_the_index_page_links_everything_a_newcomer_needs(tmp_path: Path) -> None:
    async with running_server(make_config(tmp_path)) as h, aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with session.get(h.url + "/") as response:
            page = await response.text()
            assert response.status == 200 and response.content_type == "text/html"
        assert time.monotonic() - started < 30
        for href in ('href="/desk"', 'href="/wallboard"', 'href="/reports"', 'href="/api/v1/openapi.json"',
                     'href="/healthz"', 'href="/readyz"'):
            assert href in page, href
        for path in ("/desk", "/wallboard", "/reports", "/api/v1/openapi.json", "/healthz"):
            async with session.get(h.url + path) as response:
                assert response.status == 200, path
