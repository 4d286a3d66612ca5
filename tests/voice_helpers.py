"""Shared pieces of the voice tests: the test users, server config, waits, who heard whom.
(The ``registrar`` and ``agent_and_customer`` fixtures are in conftest.py.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from cti.bus import EventFilter
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import Phone, dominant_frequency, tone_levels
from tests.harness import Harness, make_config

CUSTOMER_MOBILE = "358401234567"  # the customer's mobile (+358 40 123 4567), dialled as digits through the PBX
USERS = {"cti": "ctipass", "alice": "alicepass", "bob": "bobpass", "carol": "carolpass", "2001": "2001pass",
         CUSTOMER_MOBILE: f"{CUSTOMER_MOBILE}pass"}


def server_config(tmp_path: Path, registrar: Registrar, **sip: Any) -> Any:
    return make_config(tmp_path, connectors={"sip": {
        "registrar": f"127.0.0.1:{registrar.port}", "username": "cti", "password": "ctipass", **sip}})


async def registered(h: Harness) -> None:
    await h.wait_for(lambda: h.services.connector_health.get("sip") == "connected", what="registered")


def assert_heard_each_other(alice_phone: Phone, bob_phone: Phone) -> None:
    heard = {p.name: [dominant_frequency(r) for r in p.recordings() if r.name.endswith("-dec.wav")]
             for p in (alice_phone, bob_phone)}
    assert heard["alice"] and abs(heard["alice"][0] - 1000) < 20, heard  # the agent heard the customer
    assert heard["bob"] and abs(heard["bob"][0] - 440) < 20, heard  # and the customer heard the agent


async def call_in_state(h: Harness, state: str, *, agent: str | None = None, what: str) -> str:
    """The id of the voice interaction in that state (offered to that agent), once there is one."""
    async def found() -> str | None:
        items = (await h.admin.list_interactions(channel="voice", state=state))["items"]
        matching = [i for i in items if agent is None or i["agent_id"] == agent]
        return matching[0]["id"] if matching else None

    return await h.wait_for(found, timeout=20, what=what)


async def agent_in_state(h: Harness, agent_id: str, state: str) -> bool:
    return (await h.admin.get_agent(agent_id))["state"] == state


async def call_events(h: Harness) -> list[tuple[str, dict[str, object]]]:
    events = await h.services.bus.replay(0, EventFilter(types=["call.*"]))
    return [(e.type.value, e.data) for e in events]


async def offered_call(h: Harness, customer: Phone, *, agent: str = "alice") -> tuple[Any, str]:
    """The agent (a SIP phone at sip:<agent>@127.0.0.1) signed in, the customer's phone calling the
    server, and the call offered to her: (her client, the interaction id)."""
    await registered(h)
    client = await h.agent(agent, voice_endpoint=f"sip:{agent}@127.0.0.1")
    await asyncio.to_thread(customer.dial, "sip:cti@127.0.0.1")
    return client, await call_in_state(h, "offered", agent=agent, what=f"the call offered to {agent}")


async def bridged_call(h: Harness, agent_phone: Phone, customer: Phone) -> tuple[Any, str]:
    """As offered_call, then accepted: the agent's phone and the customer's are talking."""
    client, iid = await offered_call(h, customer)
    await client.accept(iid)
    await asyncio.to_thread(agent_phone.wait_log, "Call established")
    return client, iid


class Timeline:
    """When each phase of a call began, on one clock, and when each phone's call began on it
    (``started[name]``, or ``started[f"{name}#2"]`` for that phone's second call)."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, float]] = []
        self.started: dict[str, float] = {}

    def phase(self, name: str) -> None:
        self.phases.append((name, time.monotonic()))

    def window(self, call: str, name: str) -> tuple[float, float]:
        """The phase in that call's recording: from 0.8 s after it began to 0.3 s before the next."""
        times = [t for _, t in self.phases] + [time.monotonic()]
        index = [n for n, _ in self.phases].index(name)
        start = self.started[call]
        return times[index] - start + 0.8, times[index + 1] - start - 0.3


def heard(phone: Phone, timeline: Timeline, phase: str, tones: list[float], *, call: int = 1) -> dict[float, float]:
    """How loud each tone was in what the phone heard during that phase of its ``call``-th call."""
    recordings = [r for r in phone.recordings() if r.name.endswith("-dec.wav")]
    skip, until = timeline.window(phone.name if call == 1 else f"{phone.name}#{call}", phase)
    return tone_levels(recordings[call - 1], tones, skip_seconds=skip, until_seconds=until)
