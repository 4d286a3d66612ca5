"""Single sign-on against a real OpenID provider (npm's oidc-provider), in a real browser.

The attacks first: a callback that did not start in this browser, a changed state, a return
address on another site, and ID tokens that are forged, for someone else, replayed or expired.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cti.config import OidcConfig
from cti.sso import OidcClient, Pending, SignOnFailed, safe_next
from sip_test_env.oidc import OidcProvider
from sip_test_env.ports import free_port
from tests.harness import Harness, make_config, running_server


@pytest.fixture
async def sso_server(tmp_path: Path) -> AsyncIterator[tuple[Harness, OidcProvider]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with OidcProvider(f"{url}/api/v1/sessions/oidc/callback") as idp:
        config = make_config(tmp_path, server={"public_url": url}, auth={"oidc": {
            "issuer": idp.issuer, "client_id": idp.client_id, "client_secret": idp.client_secret,
            "name": "Example ID"}})
        async with running_server(config, port=port) as h:
            yield h, idp


async def sso_in_browser(browser: Any, url: str, login: str) -> Any:
    """A new browser opens the desk and signs on at the provider as ``login``; the page it lands on."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(url + "/desk")
    await page.click("text=Sign in with Example ID")
    await page.fill("input[name=login]", login)  # the provider's own pages, not ours
    await page.fill("input[name=password]", "anything")
    await page.click("button[type=submit]")
    await page.click("text=Continue")  # the provider's consent page
    await page.wait_for_url(url + "/desk*")
    return page


async def test_single_sign_on_with_a_real_provider(sso_server: tuple[Harness, OidcProvider], browser: Any) -> None:
    h, _ = sso_server
    await h.admin.create_agent("Ann Auer", id="ann")
    await h.admin.request("POST", "/api/v1/users", json={
        "login": "ann@example.com", "name": "Ann Auer", "password": "long enough password", "role": "agent",
        "agent_id": "ann"})
    await h.admin.request("POST", "/api/v1/users", json={
        "login": "unverified@example.com", "name": "U", "password": "long enough password", "role": "supervisor"})

    page = await sso_in_browser(browser, h.url, "Ann@Example.com")
    await page.wait_for_selector("#desk:not([hidden])")
    assert "Ann Auer" in await page.inner_text("#who")
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["cti_session"]["httpOnly"] and "cti_oidc" not in cookies  # the pending sign-on is gone
    # The session is a real one: a change carries its CSRF token, and sign-out ends it.
    await page.select_option("#state", "available")
    await h.wait_for(lambda: _state(h, "ann", "available"), what="presence changed through the SSO session")
    await page.click("#signout")
    await page.wait_for_selector("#signin-panel:not([hidden])")
    async with aiohttp.ClientSession(cookies={"cti_session": cookies["cti_session"]["value"]}) as replay:
        async with replay.get(h.url + "/api/v1/me") as me:
            assert me.status == 401

    # Someone the provider knows but we do not, and an address the provider has not verified.
    for login in ("stranger@example.com", "unverified@example.com"):
        page = await sso_in_browser(browser, h.url, login)
        await page.wait_for_selector("#signin-error:not([hidden])")  # (the page drops ?sso_error= from its address)
        assert "no user" in (await page.inner_text("#signin-error")).lower()
        assert not await page.is_visible("#desk")
        assert "cti_session" not in {c["name"] for c in await page.context.cookies()}


async def _state(h: Harness, agent_id: str, state: str) -> bool:
    return (await h.admin.request("GET", f"/api/v1/agents/{agent_id}"))["state"] == state


async def test_a_callback_not_started_in_this_browser_signs_nobody_in(
        sso_server: tuple[Harness, OidcProvider]) -> None:
    h, _ = sso_server
    callback = h.url + "/api/v1/sessions/oidc/callback"
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        # An attacker's own code and state, sent to the victim's browser (login CSRF): no pending cookie.
        async with browser.get(callback, params={"code": "abc", "state": "x" * 43}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/desk?sso_error=sso_failed"
        # A sign-on started here, but the state that comes back is not its own.
        async with browser.get(h.url + "/api/v1/sessions/oidc", params={"next": "//evil.example/x"},
                               allow_redirects=False) as start:
            assert start.status == 302 and start.headers["Location"].startswith(_issuer(h))
            assert "code_challenge_method=S256" in start.headers["Location"]
        async with browser.get(callback, params={"code": "abc", "state": "y" * 43}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/desk?sso_error=sso_failed"  # not //evil.example
        async with browser.get(callback, params={"error": "access_denied"}, allow_redirects=False) as r:
            assert r.headers["Location"] == "/desk?sso_error=sso_failed"  # the pending cookie was spent above
        async with aiohttp.ClientSession(cookies={"cti_oidc": "not-ours"}) as forged:
            async with forged.get(callback, params={"code": "abc", "state": "s"}, allow_redirects=False) as r:
                assert r.headers["Location"] == "/desk?sso_error=sso_failed"
        assert not [c for c in jar if c.key == "cti_session"]
    assert safe_next("/reports") == "/reports" and safe_next("https://evil.example") == "/desk"
    assert safe_next("/\\evil.example") == "/desk"


def _issuer(h: Harness) -> str:
    oidc = h.services.config.auth.oidc
    assert oidc is not None
    return oidc.issuer


async def test_forged_and_misdirected_id_tokens_are_refused() -> None:
    """The ID token checks on their own: our signing key stands in for the provider's published one."""
    key, other = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    published = {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True),
                 "kid": "k1", "alg": "RS256", "use": "sig"}
    settings = OidcConfig(issuer="https://id.example", client_id="cti", client_secret="s")
    async with aiohttp.ClientSession() as session:
        client = OidcClient(settings, "https://cti.example", session)
        client.use_keys({"keys": [published]})
        pending = Pending.new("/desk")
        now = int(time.time())
        good = {"iss": "https://id.example", "aud": "cti", "sub": "u1", "iat": now, "exp": now + 300,
                "nonce": pending.nonce, "email": "a@example.com", "email_verified": True}

        def token(claims: dict[str, Any], signer: Any = key, **header: Any) -> str:
            return jwt.encode(claims, signer, algorithm="RS256", headers={"kid": "k1", **header})

        assert (await client.verified_claims(token(good), pending))["sub"] == "u1"
        forged = [token(good, other), token({**good, "aud": "someone-else"}), token({**good, "iss": "https://x"}),
                  token({**good, "nonce": "replayed-from-another-sign-on"}),
                  token({**good, "exp": now - 3600, "iat": now - 7200}),
                  token({**good, "aud": ["cti", "other"], "azp": "other"}),
                  jwt.encode(good, "", algorithm="none"), token(good, kid="unknown-key")]
        for bad in forged:
            with pytest.raises(SignOnFailed):
                await client.verified_claims(bad, pending)
