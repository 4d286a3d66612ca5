"""People sign in with a login and password: the attacks first, then the working day's path.

A real server (SQLite), real HTTP with a cookie jar per person, the CLI as an operator runs it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from cti.client import CtiApiError
from cti.passwords import HASHER
from tests.conftest import CUSTOM_CHANNELS
from tests.harness import Harness, make_config, running_server

PASSWORD = "correct horse battery"


def browser_session() -> aiohttp.ClientSession:
    """A client that keeps cookies like a browser (also for 127.0.0.1, which aiohttp skips by default)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def make_user(h: Harness, login: str = "alice", *, role: str = "agent", **fields: Any) -> dict[str, Any]:
    if role == "agent" and "agent_id" not in fields:
        await h.admin.create_agent(login.title(), id=login)
        fields["agent_id"] = login
    return await h.admin.request("POST", "/api/v1/users", json={
        "login": login, "name": login.title(), "password": PASSWORD, "role": role, **fields})


async def sign_in(session: aiohttp.ClientSession, url: str, login: str, password: str) -> tuple[int, Any, dict]:
    async with session.post(url + "/api/v1/sessions", json={"login": login, "password": password}) as answer:
        return answer.status, await answer.json(), dict(answer.headers)


async def test_an_agent_signs_in_works_with_the_cookie_and_signs_out_everywhere(harness: Harness) -> None:
    user = await make_user(harness)
    assert "password" not in user and "password_hash" not in user and user["role"] == "agent"
    async with browser_session() as browser:
        status, body, headers = await sign_in(browser, harness.url, "ALICE ", PASSWORD)  # login: any case, trimmed
        assert status == 200 and body["user"]["login"] == "alice" and body["csrf"]
        cookie = headers["Set-Cookie"]
        assert "cti_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # http here; https public URLs get Secure
        async with browser.get(harness.url + "/api/v1/me") as me:
            assert me.status == 200 and (await me.json())["agent_id"] == "alice"
        async with browser.get(harness.url + "/api/v1/sessions/current") as current:
            assert (await current.json())["csrf"] == body["csrf"]  # a reloaded page gets its token back

        # A change with the cookie but without the session's CSRF token is refused and changes nothing.
        async with browser.put(harness.url + "/api/v1/agents/alice/state", json={"state": "available"}) as bare:
            assert bare.status == 403 and (await bare.json())["error"]["code"] == "csrf"
        async with browser.put(harness.url + "/api/v1/agents/alice/state", json={"state": "available"},
                               headers={"X-CSRF-Token": "not-the-token"}) as wrong:
            assert wrong.status == 403
        assert (await harness.admin.request("GET", "/api/v1/agents/alice"))["state"] == "offline"
        async with browser.put(harness.url + "/api/v1/agents/alice/state", json={"state": "available"},
                               headers={"X-CSRF-Token": body["csrf"]}) as ok:
            assert ok.status == 200 and (await ok.json())["state"] == "available"
        async with browser.get(harness.url + "/api/v1/tokens") as admin_only:
            assert admin_only.status == 403  # a session has its user's role

        old = browser.cookie_jar.filter_cookies(URL(harness.url))["cti_session"].value
        async with browser.delete(harness.url + "/api/v1/sessions/current",
                                  headers={"X-CSRF-Token": body["csrf"]}) as out:
            assert out.status == 204
    async with aiohttp.ClientSession(cookies={"cti_session": old}) as thief:  # the old cookie, replayed
        async with thief.get(harness.url + "/api/v1/me") as replay:
            assert replay.status == 401


async def test_sign_out_on_one_node_is_seen_at_once_by_another(tmp_path: Path) -> None:
    config = make_config(tmp_path, channels=CUSTOM_CHANNELS)
    async with running_server(config) as a, running_server(config, migrate=False, singletons=False) as b:
        await make_user(a)
        async with browser_session() as browser:
            _, body, _ = await sign_in(browser, a.url, "alice", PASSWORD)
            secret = browser.cookie_jar.filter_cookies(URL(a.url))["cti_session"].value
        headers = {"Cookie": f"cti_session={secret}", "X-CSRF-Token": body["csrf"]}
        async with aiohttp.ClientSession() as raw:
            async with raw.get(b.url + "/api/v1/me", headers=headers) as on_b:
                assert on_b.status == 200
            async with raw.delete(a.url + "/api/v1/sessions/current", headers=headers) as out:
                assert out.status == 204
            async with raw.get(b.url + "/api/v1/me", headers=headers) as after:
                assert after.status == 401  # no cache to wait out


async def test_another_site_cannot_sign_a_browser_in(harness: Harness) -> None:
    await make_user(harness)
    async with browser_session() as browser:
        async with browser.post(harness.url + "/api/v1/sessions", json={"login": "alice", "password": PASSWORD},
                                headers={"Origin": "https://evil.example"}) as forged:
            assert forged.status == 403 and (await forged.json())["error"]["code"] == "cross_site"
            assert "Set-Cookie" not in forged.headers
        async with browser.post(harness.url + "/api/v1/sessions", json={"login": "alice", "password": PASSWORD},
                                headers={"Origin": harness.url}) as own_page:
            assert own_page.status == 200


async def test_an_unknown_login_and_a_wrong_password_get_the_same_answer(harness: Harness) -> None:
    await make_user(harness)
    async with browser_session() as browser:
        unknown = await sign_in(browser, harness.url, "mallory", PASSWORD)
        wrong = await sign_in(browser, harness.url, "alice", PASSWORD + "!")
    assert unknown[0] == wrong[0] == 401
    assert unknown[1] == wrong[1] == {"error": {"code": "bad_credentials", "message": "the login or the password "
                                                                                     "is wrong", "details": {}}}
    assert "Set-Cookie" not in unknown[2] and "Set-Cookie" not in wrong[2]


async def test_ten_wrong_passwords_lock_the_login_out_for_a_while(harness: Harness) -> None:
    await make_user(harness)
    async with browser_session() as browser:
        for _ in range(10):
            assert (await sign_in(browser, harness.url, "alice", "guess-guess"))[0] == 401
        status, body, headers = await sign_in(browser, harness.url, "alice", PASSWORD)  # even the right one
        assert status == 429 and body["error"]["code"] == "too_many_attempts"
        assert 0 < int(headers["Retry-After"]) <= 15 * 60
        status, _, _ = await sign_in(browser, harness.url, "Alice", "guess-guess")  # other spellings count too
        assert status == 429


async def test_deleting_the_agent_ends_her_sign_in_too(harness: Harness) -> None:
    user = await make_user(harness)
    async with browser_session() as browser:
        await sign_in(browser, harness.url, "alice", PASSWORD)
        await harness.admin.request("DELETE", "/api/v1/agents/alice")
        async with browser.get(harness.url + "/api/v1/me") as me:
            assert me.status == 401
        assert (await sign_in(browser, harness.url, "alice", PASSWORD))[0] == 401
    await harness.admin.request("DELETE", f"/api/v1/users/{user['id']}")
    with pytest.raises(CtiApiError) as gone:  # a deleted user is not found, like any deleted row
        await harness.admin.request("PATCH", f"/api/v1/users/{user['id']}", json={"name": "Ghost"})
    assert (gone.value.status, gone.value.code) == (404, "user_not_found")


async def test_a_disabled_user_or_a_new_password_ends_the_session(harness: Harness) -> None:
    user = await make_user(harness)
    async with browser_session() as browser:
        await sign_in(browser, harness.url, "alice", PASSWORD)
        await harness.admin.request("PATCH", f"/api/v1/users/{user['id']}", json={"password": "a new password 2"})
        async with browser.get(harness.url + "/api/v1/me") as me:
            assert me.status == 401
        assert (await sign_in(browser, harness.url, "alice", "a new password 2"))[0] == 200
        await harness.admin.request("PATCH", f"/api/v1/users/{user['id']}", json={"disabled": True})
        async with browser.get(harness.url + "/api/v1/me") as me:
            assert me.status == 401
        assert (await sign_in(browser, harness.url, "alice", "a new password 2"))[0] == 401


@pytest.mark.parametrize(("body", "field"), [
    ({"login": "bob", "name": "Bob", "password": "short", "role": "supervisor"}, "password"),
    ({"login": "bad login", "name": "Bob", "password": PASSWORD, "role": "supervisor"}, "login"),
    ({"login": "bob", "name": "Bob", "password": PASSWORD, "role": "agent"}, "agent_id"),
    ({"login": "bob", "name": "Bob", "password": PASSWORD, "role": "agent", "agent_id": "nobody"}, "agent_id"),
    ({"login": "bob", "name": "Bob", "password": PASSWORD, "role": "root"}, "role"),
])
async def test_a_bad_user_is_refused_by_field(harness: Harness, body: dict[str, Any], field: str) -> None:
    with pytest.raises(CtiApiError) as refused:
        await harness.admin.request("POST", "/api/v1/users", json=body)
    assert refused.value.status == 400 and field in (refused.value.details or {})


async def test_passwords_are_stored_as_argon2id_and_a_login_is_taken_once(harness: Harness) -> None:
    await make_user(harness, "sam", role="supervisor")
    import sqlalchemy as sa

    from cti import models

    stored = await harness.services.db.read(lambda c: c.execute(sa.select(models.users.c.password_hash)).scalar())
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    HASHER.verify(stored, PASSWORD)
    with pytest.raises(CtiApiError) as again:
        await harness.admin.request("POST", "/api/v1/users", json={
            "login": "SAM", "name": "Sam 2", "password": PASSWORD, "role": "supervisor"})
    assert (again.value.status, again.value.code) == (409, "login_taken")


def test_cti_user_add_reads_the_password_from_stdin(tmp_path: Path) -> None:
    env = {**os.environ, "CTI_SERVER__DATA_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "cti.cli", "user", "add", "Sup", "--role", "supervisor",
                          "--name", "Sue Pervisor"], input=PASSWORD + "\n", capture_output=True, text=True,
                         env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert '"login":"sup"' in run.stdout.replace(" ", "") and PASSWORD not in run.stdout
    weak = subprocess.run([sys.executable, "-m", "cti.cli", "user", "add", "weak", "--role", "supervisor"],
                          input="short\n", capture_output=True, text=True, env=env, timeout=60)
    assert weak.returncode == 1 and "password" in weak.stderr

    async def check() -> None:
        async with running_server(make_config(tmp_path)) as h, browser_session() as browser:
            status, body, _ = await sign_in(browser, h.url, "sup", PASSWORD)
            assert status == 200 and body["user"]["name"] == "Sue Pervisor"

    asyncio.run(check())


async def test_the_pages_show_nothing_before_sign_in_and_a_person_signs_in_and_out(harness: Harness,
                                                                                  browser: Any) -> None:
    from playwright.async_api import expect

    await make_user(harness)
    await make_user(harness, "sam", role="supervisor")
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    for path in ("/desk", "/wallboard", "/reports"):
        await page.goto(harness.url + path)
        await expect(page.get_by_label("Login")).to_be_visible()
        for hidden in ("#desk", "#wallboard", "#reports", "#signout"):
            assert not await page.locator(hidden).is_visible(), f"{hidden} shows before sign-in on {path}"

    await page.goto(harness.url + "/desk")
    await page.get_by_label("Login").fill("alice")
    await page.get_by_label("Password").fill("wrong password!")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#signin-error")).to_have_text("the login or the password is wrong")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#link-status")).to_have_text("live")
    await expect(page.locator("#who")).to_contain_text("Alice")
    await page.get_by_label("Presence").select_option("available")  # a change: it carries the CSRF token
    await harness.wait_for(lambda: _agent_state(harness, "alice", "available"), what="presence saved")

    await page.reload()  # the session resumes: no second sign-in
    await expect(page.locator("#link-status")).to_have_text("live")
    assert not await page.get_by_label("Login").is_visible()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Login")).to_be_visible()
    assert not await page.locator("#desk").is_visible()

    await page.goto(harness.url + "/wallboard")  # an agent's session is not for the wallboard: it says so
    await page.get_by_label("Login").fill("alice")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#signin-error")).to_contain_text("supervisors")
    assert not await page.locator("#wallboard").is_visible()


async def _agent_state(h: Harness, agent_id: str, state: str) -> bool:
    return bool((await h.admin.request("GET", f"/api/v1/agents/{agent_id}"))["state"] == state)
