"""The participant and monitor routes refuse what they must before anything rings: by shape, by
role, by ownership, by channel, in that order (the calls themselves: tests/test_sip_conference.py)."""

from __future__ import annotations

import pytest

from cti.client import CtiApiError
from tests.harness import Harness


async def refused(call: object) -> tuple[int, str]:
    with pytest.raises(CtiApiError) as error:
        await call  # type: ignore[misc]
    return error.value.status, error.value.code


async def test_parties_are_refused_by_shape_role_ownership_and_channel(harness: Harness) -> None:
    alice, bob = await harness.agent("alice"), await harness.agent("bob", state="away")
    stored = await harness.admin.inbound(channel="shop-chat", sender=("email", "p@example.com"), text="hi",
                                         external_id="p-1")
    iid = stored["interaction_id"]
    await harness.interaction_in_state(iid, "offered")
    await alice.accept(iid)
    supervisor = harness.client((await harness.admin.create_token("supervisor"))["token"])
    path = f"/api/v1/interactions/{iid}"

    assert await refused(alice.request("POST", path + "/participants", json={"number": "2001", "sip_uri": "sip:x@y"})) \
        == (400, "invalid_input")  # exactly one target
    assert (await refused(alice.request("POST", path + "/participants", json={"sip_uri": "tel:123"})))[0] == 400
    assert (await refused(bob.request("POST", path + "/participants", json={"number": "2001"})))[1] \
        == "not_your_interaction"  # another agent's call: 403 before anything about it
    assert (await refused(alice.request("POST", path + "/participants", json={"number": "2001"})))[1] \
        == "channel_not_voice"
    assert (await refused(alice.request("POST", path + "/monitor", json={"mode": "listen"})))[0] == 403  # supervisors
    assert (await refused(supervisor.request("POST", path + "/monitor", json={"mode": "listen"})))[1] \
        == "channel_not_voice"
    assert (await refused(supervisor.request("POST", "/api/v1/interactions/int_nope/monitor",
                                             json={"mode": "listen"})))[0] == 404
    assert (await refused(supervisor.request("PATCH", path + "/monitor", json={"mode": "barge"})))[0] == 404
    assert (await refused(alice.transfer(iid, participant_id="pty_nope")))[1] == "channel_not_voice"
