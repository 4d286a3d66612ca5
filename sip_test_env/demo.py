"""``cti demo``: the whole pivot journey on this machine, narrated step by step with timings.

It starts a real SIP registrar (Kamailio) with two scripted phones (baresip): the agent's desk
phone (440 Hz tone) and the customer's mobile, +358 40 123 4567 (1000 Hz tone); the X emulator
(X itself cannot be reached from here); the server (SQLite in a throwaway folder) with the SIP
and X connectors; and a demo agent. Then: a customer's angry mention arrives as a signed X
webhook and is scored (sentiment, influence) and routed, the agent accepts it, answers publicly
and pivots to a callback, the link arrives in the customer's X DMs, the customer opens it and
asks for a call now, the agent accepts the callback, the server rings both phones and bridges
them, and after a few seconds the agent hangs up and wraps up.
It prints the URLs a person can open (the pivot page, the case timeline) and, with ``--keep``,
leaves the server running until Ctrl-C. Needs kamailio and baresip (``./dev test`` installs them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

MOBILE = "358401234567"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Narrator:
    """Prints each step with the seconds since the start."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.2f} s] {text}", flush=True)


async def wait_for(check: Callable[[], Awaitable[Any]], what: str, seconds: float = 30.0) -> Any:
    """Poll until check() returns something truthy."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


async def run_demo(port: int, talk_seconds: float, keep: bool) -> int:
    from cti.api.context import SERVICES
    from cti.app import create_app
    from cti.client import CtiClient
    from cti.main import load_app_config as load_config
    from cti.serve import check_port_free
    from cti.services.tokens import create_token
    from sip_test_env.emulators.x import XEmulator
    from sip_test_env.kamailio import Registrar
    from sip_test_env.phones import Phone

    say = Narrator().say
    port = port or _free_port()  # (0: any free port, so the demo never collides with a running server)
    check_port_free("127.0.0.1", port)
    _stop_on_signals()
    folder = Path(tempfile.mkdtemp(prefix="cti-demo-"))
    phones: list[Phone] = []
    runner: web.AppRunner | None = None
    x: XEmulator | None = None
    registrar: Registrar | None = None
    try:
        x = XEmulator(handle="acme")
        await x.start()  # X itself cannot be reached from here: its local emulator
        say("starting Kamailio and two baresip phones (agent desk phone 440 Hz, customer mobile 1000 Hz)")
        registrar = Registrar({"cti": "ctipass", "alice": "alicepass", MOBILE: f"{MOBILE}pass"})
        await asyncio.to_thread(registrar.start)
        for name, tone in (("alice", 440.0), (MOBILE, 1000.0)):
            phone = Phone(name, f"{name}pass", registrar.port, tone_hz=tone)
            phones.append(phone)
            await asyncio.to_thread(phone.start)
            await asyncio.to_thread(phone.wait_log, "200 OK")
        desk, mobile = phones
        public_url = f"http://127.0.0.1:{port}"
        config = load_config(None, environ={}, overrides={
            "server": {"data_dir": str(folder), "port": port, "public_url": public_url,
                       "sqlite_synchronous": "normal"},
            "connectors": {"sip": {"registrar": f"127.0.0.1:{registrar.port}", "username": "cti",
                                   "password": "ctipass", "dial_format": "digits"},
                           "x": {"consumer_secret": x.consumer_secret, "bearer_token": x.bearer_token,
                                 "account_id": x.account_id, "api_base": x.url}},
            "social": {"handles": ["@acme"]},
            "pivot": {"company_name": "Acme", "opening_hours": {
                d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}})
        app = create_app(config)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        svc = app[SERVICES]
        _, admin_token = await svc.db.write(lambda tx: create_token(tx, role="admin", name="demo"))
        admin = CtiClient(public_url, admin_token)
        await wait_for(lambda: _true(svc.connector_health.get("sip") == "connected"), "SIP registration")
        say(f"server up on {public_url}, registered to Kamailio on 127.0.0.1:{registrar.port}")
        await admin.create_agent("Alice Example", id="alice", voice_endpoint=desk.uri)
        agent_token = (await admin.create_token("agent", agent_id="alice"))["token"]
        alice = CtiClient(public_url, agent_token)
        await alice.set_agent_state("alice", "available")
        say(f"agent alice is available (desk phone {desk.uri}); her token: {agent_token}")

        x.webhook_url = f"{public_url}/webhooks/x"
        await x.signed_post(x.mention_payload({"user": {"id": 2244994945, "screen_name": "dana", "name": "Dana",
                                                        "followers_count": 12_400},
                                               "text": "@acme my router died AGAIN, this is awful. "
                                                       "Can someone call me?"}))
        offered = await wait_for(lambda: _offered(admin, "x"), "the offer")
        iid, case_id = offered["id"], offered["case_id"]
        scoring = offered["scoring"]
        say(f"a mention on X, signed by X's emulator: interaction {iid} on case {case_id}, priority "
            f"{scoring['priority']} (sentiment {scoring['factors']['sentiment']['value']}, "
            f"{scoring['factors']['influence']['value']} followers); suggested: {scoring['reply_mode']['mode']} "
            f"({scoring['reply_mode']['reason']})")
        await alice.accept(iid)
        say("offered to alice, and accepted")
        await alice.reply(iid, "@dana so sorry! We sent you a DM with a link for a call.", mode="public")
        link = (await alice.pivot(iid, "callback", send=True))["pivot_link"]
        say(f"alice replies publicly and pivots to a callback: link {link['id']}, expires {link['expires_at']}")
        await wait_for(lambda: _true(bool(x.dms) and bool(x.tweets)), "the reply and the DM at X")
        say(f"at X: public reply {x.tweets[0]['text']!r}; DM to the customer {x.dms[0]['text']!r}")

        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                         headers={"User-Agent": "Mozilla/5.0 (iPhone) Mobile"}) as browser:
            async with browser.get(link["url"]) as response:
                page = await response.text()
            say(f"customer opens the link on the phone: {response.status}, {len(page)} bytes")
            form = {"csrf": CSRF.search(page).group(1), "phone": "+358 40 123 4567", "when": "now"}  # type: ignore[union-attr]
            async with browser.post(link["url"] + "/callback", data=form) as response:
                await response.text()
            say(f"customer taps 'Call me now' with +358 40 123 4567: {response.status}")

        callback_call = await wait_for(lambda: _offered_callback(admin), "the callback offer")
        say(f"callback {callback_call['id']} offered to alice first (case affinity); she accepts")
        await alice.accept(callback_call["id"])
        await wait_for(lambda: _callback_state(admin, "connected"), "the bridge")
        say(f"alice's desk phone answered, the customer's mobile answered: bridged; talking {talk_seconds:.0f} s")
        await asyncio.sleep(talk_seconds)
        await alice.end(callback_call["id"])
        await alice.wrapup(callback_call["id"], disposition="router replaced", notes="pivoted from X")
        await asyncio.to_thread(desk.wait_call_over)
        await asyncio.to_thread(mobile.wait_call_over)
        say("alice hangs up and wraps up")
        _report_audio(say, desk, mobile)

        timeline = await admin.timeline(case_id)
        say("the case timeline:")
        for entry in timeline["entries"]:
            extra = f" ({entry['data']['duration']:.1f} s)" if entry["type"] == "call.ended" else ""
            print(f"           {entry['ts']}  {entry['type']}{extra}")
        funnel = (await admin.request("GET", "/api/v1/stats/realtime"))["pivot_today"]
        say(f"pivot funnel today: {funnel}")
        print(f"\nOpen: {link['url']}  (the pivot page; now used, so it shows the way back)\n"
              f"      curl -H 'Authorization: Bearer {admin_token}' {public_url}/api/v1/cases/{case_id}/timeline")
        await alice.close()
        await admin.close()
        if keep:
            say("running until Ctrl-C (--keep)")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        return 0
    finally:  # every way out (done, Ctrl-C, SIGTERM, an error) stops what the demo started
        if runner is not None:
            await runner.cleanup()
        if x is not None:
            await x.stop()
        for phone in phones:
            await asyncio.to_thread(phone.close)
        if registrar is not None:
            await asyncio.to_thread(registrar.close)
        shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP end the demo as Ctrl-C does: the running task is cancelled, its cleanup runs."""
    task, loop = asyncio.current_task(), asyncio.get_running_loop()
    if task is not None:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, task.cancel)


async def _true(value: bool) -> bool:
    return value


async def _offered(client: Any, channel: str) -> dict[str, Any] | None:
    items = (await client.list_interactions(channel=channel, state="offered"))["items"]
    return items[0] if items else None


async def _offered_callback(client: Any) -> dict[str, Any] | None:
    items = (await client.list_interactions(channel="voice", state="offered"))["items"]
    return next((i for i in items if i["initiation"] == "callback"), None)


async def _callback_state(client: Any, state: str) -> bool:
    return bool((await client.list_callbacks(state=state))["items"])


def _report_audio(say: Callable[[str], None], desk: Any, mobile: Any) -> None:
    try:
        from sip_test_env.phones import dominant_frequency

        heard = {p.name: [dominant_frequency(r) for r in p.recordings() if r.name.endswith("-dec.wav")]
                 for p in (desk, mobile)}
    except ImportError:  # numpy is a test dependency
        say("(install the test extras to check the audio: pip install -e '.[test]')")
        return
    say(f"audio: alice heard {heard['alice'][0]:.0f} Hz (the customer's tone), the customer heard "
        f"{heard[MOBILE][0]:.0f} Hz (alice's)")


def cmd_demo(args: argparse.Namespace) -> int:
    """The ``cti demo`` command."""
    try:
        return asyncio.run(run_demo(args.port, args.talk_seconds, args.keep))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("demo stopped; Kamailio, the phones and the temporary folders are gone", file=sys.stderr)
        return 0
