"""The README's examples run as written, in order, twice, against a real ``cti serve`` on the example
configuration: every ``sh`` and ``python`` block, except those marked ``<!-- not run by
tests/test_readme.py: why -->`` (which say where they are tested instead)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.pg import free_port

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- not run by tests/test_readme\.py:[^>]*-->\n)?```(sh|python)\n(.*?)```", re.S)


def readme_blocks() -> list[tuple[str, str]]:
    """(language, code) of every block the README asks to run."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(lang, code) for skip, lang, code in BLOCK.findall(text) if not skip]


def test_the_readme_names_what_it_does_not_run() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count("```sh") + text.count("```python") == len(readme_blocks()) + text.count(
        "<!-- not run by tests/test_readme.py")
    assert [lang for lang, _ in readme_blocks()] == ["sh", "python"]


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server did not come up:\n" + log.read_text())


def test_the_readme_runs_as_written_twice(tmp_path: Path) -> None:
    port, replies = free_port(), free_port()
    example = (ROOT / "examples" / "cti.example.toml").read_text(encoding="utf-8")
    assert "port = 8080" in example and "127.0.0.1:8090" in example
    (tmp_path / "examples").mkdir()  # the example configuration, on ports free on this machine
    (tmp_path / "examples" / "cti.example.toml").write_text(
        example.replace("port = 8080", f"port = {port}").replace("127.0.0.1:8090", f"127.0.0.1:{replies}"))
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    blocks = readme_blocks()
    shell = "\n".join(code for lang, code in blocks if lang == "sh")
    (tmp_path / "readme.py").write_text("\n".join(code for lang, code in blocks if lang == "python"))
    script = f"{shell}\n.venv/bin/python readme.py\n"
    env = {**os.environ, "CTI": f"http://127.0.0.1:{port}"}
    for name in [k for k in env if k.startswith("CTI_")]:
        del env[name]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen([str(tmp_path / ".venv" / "bin" / "cti"), "serve", "--config",
                                   "examples/cti.example.toml"], cwd=tmp_path, stdout=out, stderr=out, env=env)
    try:
        _wait_healthy(env["CTI"], server, log)
        for run in (1, 2):
            result = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                                    text=True, timeout=120)
            out = result.stdout
            assert result.returncode == 0, f"run {run}:\n{out}\n{result.stderr}"
            assert f"receiving replies for shop-chat on http://127.0.0.1:{replies}" in out, out
            assert re.search(r"shop-chat: reply to email:bob@example\.com \(delivery out_\w+\): On it!", out), out
            assert '"code":"pivot_target_unavailable"' in out.replace(" ", ""), out
            assert '"state":"ended"' in out.replace(" ", ""), out
            assert re.search(r"Z outbound sent On it!\n", out) and re.search(r"Z inbound received My router died", out)
            python_lines = out.splitlines()[-12:]
            assert any(line.endswith("interaction.wrapup") for line in python_lines), out
            assert "interaction.offered" in (tmp_path / "events.log").read_text(), "the event stream was watched"
        assert "Traceback" not in log.read_text()
    finally:
        server.terminate()
        server.wait(timeout=30)
