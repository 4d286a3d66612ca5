"""Internal notes stay internal; canned replies are filled per conversation and are the supervisors' to manage."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cti import models
from cti.client import CtiApiError
from tests.harness import Harness


async def accepted_conversation(h: Harness, agent: str = "alice") -> tuple[object, dict]:
    client = await h.agent(agent, name="Aino Virtanen")
    stored = await h.admin.inbound(channel="shop-chat", sender=("email", "mikko@example.com"), text="missä paketti?",
                                   external_id=f"n-{agent}", name="Mikko")
    await h.interaction_in_state(stored["interaction_id"], "offered")
    await client.accept(stored["interaction_id"])
    return client, stored


async def test_an_internal_note_is_on_the_timeline_and_is_never_sent(harness: Harness) -> None:
    alice, stored = await accepted_conversation(harness)
    note = await alice.request("POST", f"/api/v1/cases/{stored['case_id']}/notes",
                               json={"text": "  Customer is travelling; call after 16:00  "})
    assert note["internal"] is True and note["text"] == "Customer is travelling; call after 16:00"
    assert note["author_id"] == "alice"
    timeline = await harness.admin.timeline(stored["case_id"])
    added = [e for e in timeline["entries"] if e["type"] == "case.note_added"]
    assert [e["data"]["note"]["text"] for e in added] == ["Customer is travelling; call after 16:00"]
    assert added[0]["data"]["note"]["internal"] is True
    assert all("travelling" not in m["text"] for m in timeline["messages"]), "a note is no message"
    outbox = await harness.services.db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(
        models.outbox)).scalar())
    assert outbox == 0, "nothing was queued for the customer"
    listed = await alice.request("GET", f"/api/v1/cases/{stored['case_id']}/notes")
    assert [n["id"] for n in listed["items"]] == [note["id"]]

    bob = await harness.agent("bob")  # not on this case
    with pytest.raises(CtiApiError) as refused:
        await bob.request("POST", f"/api/v1/cases/{stored['case_id']}/notes", json={"text": "sneaky"})
    assert refused.value.status == 403
    with pytest.raises(CtiApiError) as empty:
        await alice.request("POST", f"/api/v1/cases/{stored['case_id']}/notes", json={"text": "   "})
    assert empty.value.status == 400


async def test_a_canned_reply_in_finnish_is_filled_for_the_conversation(harness: Harness) -> None:
    alice, stored = await accepted_conversation(harness)
    supervisor = harness.client((await harness.admin.create_token("supervisor"))["token"])
    made = await supervisor.request("POST", "/api/v1/canned-replies", json={
        "title": "Seuranta", "language": "fi", "shortcut": "seuranta",
        "text": "Hei {{contact.name}}, paketti on matkalla. Tapaus {{ case.id }}. Terveisin {{agent.name}}"})
    assert made["fields"] == ["agent.name", "case.id", "contact.name"]
    await supervisor.request("POST", "/api/v1/canned-replies", json={
        "title": "Tracking", "language": "en", "text": "Hi {{contact.name}}, it is on its way."})
    finnish = await alice.request("GET", "/api/v1/canned-replies", params={"language": "fi"})
    assert [r["title"] for r in finnish["items"]] == ["Seuranta"]
    filled = await alice.request("GET", f"/api/v1/interactions/{stored['interaction_id']}/canned-reply",
                                 params={"reply_id": made["id"]})
    assert filled["text"] == f"Hei Mikko, paketti on matkalla. Tapaus {stored['case_id']}. Terveisin Aino Virtanen"
    sent = await alice.reply(stored["interaction_id"], filled["text"])
    assert sent["text"].startswith("Hei Mikko")

    with pytest.raises(CtiApiError) as unknown:  # only the known fields: no template language runs
        await supervisor.request("POST", "/api/v1/canned-replies", json={
            "title": "Evil", "language": "en", "text": "{{ config.secret }} {{contact.name}}"})
    assert unknown.value.status == 400 and "config.secret" in unknown.value.message
    with pytest.raises(CtiApiError) as agents_cannot:
        await alice.request("POST", "/api/v1/canned-replies", json={"title": "Mine", "language": "en", "text": "x"})
    assert agents_cannot.value.status == 403
    bob = await harness.agent("bob")
    with pytest.raises(CtiApiError) as not_hers:
        await bob.request("GET", f"/api/v1/interactions/{stored['interaction_id']}/canned-reply",
                          params={"reply_id": made["id"]})
    assert not_hers.value.status == 403
    await supervisor.request("DELETE", f"/api/v1/canned-replies/{made['id']}")
    assert (await alice.request("GET", "/api/v1/canned-replies", params={"language": "fi"}))["items"] == []
