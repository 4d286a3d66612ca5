"""The customer in context: a contact's profile an agent can change, its history across channels,
and a CSV import whose VIP and value flags raise the priority of the customer's next post."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cti.client import CtiApiError
from sip_test_env.emulators.x import XEmulator
from tests.harness import Harness, make_config, running_server

CUSTOMER = {"id": 4242, "screen_name": "mikko", "name": "Mikko", "followers_count": 40}


async def post_csv(h: Harness, text: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token or h.admin.token}", "Content-Type": "text/csv"}
    async with aiohttp.ClientSession() as session, \
            session.post(h.url + "/api/v1/contacts/import", data=text.encode(), headers=headers) as answer:
        return answer.status, await answer.json()


async def test_an_agent_sets_a_profile_on_her_customer_and_not_on_others(harness: Harness) -> None:
    alice = await harness.agent("alice")
    mine = await harness.admin.inbound(channel="shop-chat", sender=("email", "mine@example.com"), text="hi",
                                       external_id="p-1")
    await harness.interaction_in_state(mine["interaction_id"], "offered")
    await alice.accept(mine["interaction_id"])
    await alice.set_agent_state("alice", "away")  # the next customer is never offered to her
    other = await harness.admin.inbound(channel="shop-chat", sender=("email", "other@example.com"), text="hi",
                                        external_id="p-2")
    contact_id = (await harness.admin.get_interaction(mine["interaction_id"]))["contact_id"]
    body = {"name": "Mikko Laine", "language": "fi", "attributes": {"vip": True, "lifetime_value": 1200.5,
                                                                    "note": "prefers calls"}}
    changed = await alice.request("PATCH", f"/api/v1/contacts/{contact_id}", json=body)
    assert changed["name"] == "Mikko Laine" and changed["language"] == "fi"
    assert changed["attributes"] == {"vip": True, "lifetime_value": 1200.5, "note": "prefers calls"}
    merged = await alice.request("PATCH", f"/api/v1/contacts/{contact_id}",
                                 json={"attributes": {"note": None, "purchases": 7}})
    assert merged["attributes"] == {"vip": True, "lifetime_value": 1200.5, "purchases": 7}  # null removed a key

    for bad, field in (({"attributes": {"vip": "yes please"}}, "attributes.vip"),
                       ({"attributes": {"lifetime_value": -5}}, "attributes.lifetime_value"),
                       ({"attributes": {"Bad Key": 1}}, "attributes.Bad Key"),
                       ({"language": "finnish!"}, "language")):
        with pytest.raises(CtiApiError) as refused:
            await alice.request("PATCH", f"/api/v1/contacts/{contact_id}", json=bad)
        assert refused.value.status == 400 and field in refused.value.details, bad
    assert (await harness.admin.request("GET", f"/api/v1/contacts/{contact_id}"))["attributes"]["purchases"] == 7

    other_contact = (await harness.admin.get_interaction(other["interaction_id"]))["contact_id"]
    with pytest.raises(CtiApiError) as foreign:
        await alice.request("PATCH", f"/api/v1/contacts/{other_contact}", json={"attributes": {"vip": True}})
    assert foreign.value.status == 403
    with pytest.raises(CtiApiError):
        await alice.request("GET", f"/api/v1/contacts/{other_contact}/history")


async def test_the_history_shows_every_case_newest_first_across_channels(harness: Harness) -> None:
    first = await harness.admin.inbound(channel="shop-chat", sender=("email", "h@example.com"), text="first problem",
                                        external_id="h-1")
    await harness.admin.request("PATCH", f"/api/v1/cases/{first['case_id']}", json={"status": "closed"})
    second = await harness.admin.inbound(channel="sms-gw", sender=("email", "h@example.com"), text="second problem",
                                         external_id="h-2")
    assert second["case_id"] != first["case_id"]
    contact_id = (await harness.admin.get_interaction(first["interaction_id"]))["contact_id"]
    page = await harness.admin.request("GET", f"/api/v1/contacts/{contact_id}/history", params={"limit": 1})
    assert [i["case"]["id"] for i in page["items"]] == [second["case_id"]] and page["next"]
    newest = page["items"][0]
    assert newest["channels"] == ["sms-gw"] and newest["last_message"]["text"] == "second problem"
    rest = await harness.admin.request("GET", f"/api/v1/contacts/{contact_id}/history",
                                       params={"limit": 1, "after": page["next"]})
    assert [i["case"]["id"] for i in rest["items"]] == [first["case_id"]] and rest["next"] is None
    assert rest["items"][0]["case"]["status"] == "closed" and rest["items"][0]["interactions"][0]["channel"] == \
        "shop-chat"


async def test_an_import_reports_bad_rows_by_line_and_stores_the_good_ones(harness: Harness) -> None:
    status, result = await post_csv(harness, "email,name,vip,lifetime_value,plan\n"
                                             "anna@example.com,Anna,true,5000,gold\n"
                                             "not-an-address,Bad,true,1,x\n"
                                             "ben@example.com,Ben,maybe,10,\n"
                                             ",,,,\n")
    assert status == 200 and (result["created"], result["updated"]) == (1, 0)
    assert [e["line"] for e in result["errors"]] == [3, 4, 5]
    found = await harness.admin.request("GET", "/api/v1/contacts", params={"identity": "anna@example.com"})
    anna = found["items"][0]
    assert anna["name"] == "Anna" and anna["attributes"] == {"vip": True, "lifetime_value": 5000.0, "plan": "gold"}
    assert not (await harness.admin.request("GET", "/api/v1/contacts", params={"identity": "ben@example.com"}))[
        "items"], "a refused row changes nothing"
    status, again = await post_csv(harness, "email,purchases\nanna@example.com,3\n")
    assert (again["created"], again["updated"]) == (0, 1)
    status, broken = await post_csv(harness, "name,vip\nAnna,true\n")
    assert status == 400 and broken["error"]["code"] == "invalid_csv"
    agent = await harness.agent("alice")
    status, _ = await post_csv(harness, "email,vip\nx@example.com,true\n", token=agent.token)
    assert status == 403


async def test_an_imported_vip_flag_raises_the_priority_of_the_next_post(tmp_path: Path, x: XEmulator) -> None:
    config = make_config(tmp_path, connectors={"x": {"consumer_secret": x.consumer_secret,
                                                     "bearer_token": x.bearer_token, "account_id": x.account_id,
                                                     "api_base": x.url}},
                         social={"handles": ["@acme"]})
    async with running_server(config) as h:
        x.webhook_url = h.url + "/webhooks/x"

        async def scoring_of(text: str) -> dict[str, Any]:
            await x.signed_post(x.mention_payload({"user": CUSTOMER, "text": text}))

            async def stored() -> dict[str, Any] | None:
                items = (await h.admin.list_interactions(channel="x"))["items"]
                return next((i for i in items if i.get("scoring") and i["id"] not in seen), None)

            found = await h.wait_for(stored, what="the post stored")
            seen.add(found["id"])
            await h.interaction_in_state(found["id"], "offered")  # the agent works it to the end, so the next
            await agent.accept(found["id"])  # post starts a new conversation, scored afresh
            await agent.end(found["id"])
            await agent.wrapup(found["id"], "answered")
            await h.admin.request("PATCH", f"/api/v1/cases/{found['case_id']}", json={"status": "closed"})
            return found["scoring"]

        seen: set[str] = set()
        agent = await h.agent("alice")
        before = await scoring_of("@acme my order is late")
        assert before["factors"]["customer_value"]["points"] == 0
        status, result = await post_csv(h, "x,vip,lifetime_value\n4242,true,20000\n")
        assert status == 200 and result["updated"] == 1 and not result["errors"]
        after = await scoring_of("@acme my order is still late")
        assert after["factors"]["customer_value"]["points"] > 0
        assert after["priority"] > before["priority"]


def test_cti_contacts_import_reads_a_file(tmp_path: Path) -> None:
    sheet = tmp_path / "contacts.csv"
    sheet.write_text("phone,name,vip\n+358401234567,Mikko,true\n+358 40 765 4321,Liisa,false\nnot a phone,X,\n",
                     encoding="utf-8")
    env = {"CTI_SERVER__DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "cti.cli", "contacts", "import", str(sheet)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert run.returncode == 1, run.stderr  # one row refused: the exit status says so
    assert '"created":2' in run.stdout and "line 4:" in run.stderr
