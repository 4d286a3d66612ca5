"""A real OpenID Connect provider for the single sign-on tests: npm's ``oidc-provider`` on Node.js.

``./dev test`` installs it (``npm ci`` in ``sip_test_env/oidc``); ``OidcProvider`` starts
``provider.mjs`` on a free port with one client, whose redirect URI is the server's callback.
Every login is accepted with any password on the provider's own development pages (so a test
signs in as whoever it needs); the account's email is its login.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import TracebackType

from sip_test_env.ports import free_port, wait_listening

FOLDER = Path(__file__).with_name("oidc")


def ensure_provider() -> str:
    """The node binary, with the provider's packages installed (npm ci the first time)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("Node.js and npm are needed for the OpenID provider (./dev test installs them)")
    if not (FOLDER / "node_modules" / "oidc-provider").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=FOLDER, check=True)
    return node


class OidcProvider:
    """``with OidcProvider(redirect_uri) as idp:`` a provider at ``idp.issuer`` until the block ends."""

    client_id = "cti-desk"
    client_secret = "test-client-secret-not-for-production"

    def __init__(self, redirect_uri: str) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.redirect_uri = redirect_uri
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> OidcProvider:
        self._process = subprocess.Popen(
            [ensure_provider(), "provider.mjs", str(self.port), self.client_id, self.client_secret,
             self.redirect_uri], cwd=FOLDER, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port, what="the OpenID provider")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
