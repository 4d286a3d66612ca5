"""Shared pieces of the pivot tests: a case pivoted by an agent, and a customer's browser-like client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp

from cti.bus import EventFilter
from tests.harness import Harness

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SHOP_SECRET = "shop-secret-0123456789"


@dataclass
class Pivoted:
    """A customer's message accepted by an agent and pivoted to a callback link."""

    interaction_id: str
    case_id: str
    link: dict[str, Any]
    agent: Any

    @property
    def path(self) -> str:
        return "/p/" + self.link["url"].rsplit("/p/", 1)[1]


async def pivoted_case(h: Harness, *, agent_id: str = "alice", sender: tuple[str, str] = ("x", "12345"),
                       external_id: str = "tw-1", send: bool = True, **pivot: Any) -> Pivoted:
    """"@acme my router died" in on the shop channel, offered to and accepted by the agent, pivoted."""
    agent = pivot.pop("agent", None) or await h.agent(agent_id, name=f"{agent_id.title()} Example",
                                                      voice_endpoint=pivot.pop("endpoint", None))
    stored = await h.admin.inbound(channel="shop-chat", sender=sender, text="@acme my router died, help!",
                                   external_id=external_id)
    iid = stored["interaction_id"]
    await h.interaction_in_state(iid, "offered")
    await agent.accept(iid)
    body = await agent.pivot(iid, "callback", send=send, **pivot)
    return Pivoted(iid, stored["case_id"], body["pivot_link"], agent)


class Customer:
    """A phone browser's HTTP side: keeps cookies (also for 127.0.0.1), reads the form's CSRF field."""

    def __init__(self, base: str, *, user_agent: str = "Mozilla/5.0 (iPhone) Mobile", language: str = "en") -> None:
        self.base = base
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers={
            "User-Agent": user_agent, "Accept-Language": language})
        self.csrf = ""

    async def open(self, path: str, **params: str) -> tuple[int, str, Any]:
        async with self.session.get(self.base + path, params=params, allow_redirects=False) as response:
            text = await response.text()
            found = CSRF.search(text)
            if found:
                self.csrf = found.group(1)
            return response.status, text, response.headers

    async def submit(self, path: str, *, csrf: str | None = None, **fields: str) -> tuple[int, str, Any]:
        form = {"csrf": self.csrf if csrf is None else csrf, **fields}
        async with self.session.post(self.base + path + "/callback", data=form, allow_redirects=False) as response:
            return response.status, await response.text(), response.headers

    async def close(self) -> None:
        await self.session.close()


async def event_types(h: Harness, pattern: str) -> list[str]:
    events = await h.services.bus.replay(0, EventFilter(types=[pattern]))
    return [e.type.value for e in events]


LINK_IN_TEXT = re.compile(r"(https?://\S+/p/([A-Za-z0-9_-]+))")


async def link_sent_on_x(h: Harness, x: Any, agent: Any, to: str, *, text: str, dm_id: str) -> tuple[Any, str, str]:
    """A customer's X DM, accepted by the agent, who sends a pivot link ``to`` as a DM:
    (the stored DM, the link's URL on this test server, its token)."""
    import sqlalchemy as sa

    from cti import models
    from tests.test_x_channel import DANA

    status, _ = await x.signed_post(x.dm_payload({"user": DANA, "text": text, "id": dm_id}))
    assert status == 200
    M = models.messages
    [dm] = await h.wait_for(lambda: h.services.db.read(lambda c: c.execute(
        sa.select(M).where(M.c.channel == "x")).all()), what="the DM stored")
    await h.interaction_in_state(dm.interaction_id, "offered")
    await agent.accept(dm.interaction_id)
    minted = await agent.pivot(dm.interaction_id, to, send=True)
    assert minted["pivot_link"]["to"] == to
    await h.wait_for(lambda: x.dms, what="the link sent as a DM")
    url, token = LINK_IN_TEXT.search(x.dms[0]["text"]).groups()  # type: ignore[union-attr]
    return dm, url.replace(h.services.config.server.resolved_public_url(), h.url), token
