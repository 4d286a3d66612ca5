"""Recording by API on a real call (Kamailio, baresip): start, pause, resume, stop; the recording
listed and served (Range requests) to its agent only; retention deletes the file itself. (That
nothing of a paused stretch is kept, content and length: tests/test_mixing.py.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from cti import models
from cti.bus import EventFilter
from cti.client import CtiApiError
from cti.retention import RecordingRetention
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import Phone
from tests.harness import running_server
from tests.voice_helpers import bridged_call, registered, server_config

pytestmark = pytest.mark.slow


async def test_recording_by_api_is_served_to_its_agent_only_and_retention_deletes_the_file(
        tmp_path: Path, registrar: Registrar, agent_and_customer: tuple[Phone, Phone]) -> None:
    alice_phone, bob_phone = agent_and_customer
    async with running_server(server_config(tmp_path, registrar)) as h:  # (record = false: on demand only)
        await registered(h)
        alice, iid = await bridged_call(h, alice_phone, bob_phone)
        other = await h.agent("carol", state="away")
        verb = f"/api/v1/interactions/{iid}/recording"
        with pytest.raises(CtiApiError) as bad:
            await alice.request("POST", verb, json={"action": "rewind"})
        assert bad.value.status == 400
        with pytest.raises(CtiApiError) as not_hers:
            await other.request("POST", verb, json={"action": "start"})
        assert not_hers.value.status == 403
        for action, seconds in (("start", 2.0), ("pause", 1.5), ("resume", 1.5), ("stop", 0.0)):
            await alice.request("POST", verb, json={"action": action})
            await asyncio.sleep(seconds)

        async def recording() -> dict[str, Any] | None:
            items = (await alice.request("GET", "/api/v1/recordings", params={"interaction_id": iid}))["items"]
            return items[0] if items and items[0]["state"] == "stopped" else None

        found = await h.wait_for(recording, what="the recording stopped")
        assert 2.8 < found["seconds"] < 4.2, found  # 3.5 s recorded: the 1.5 s pause is not in it
        assert len(found["paused"]) == 1 and 1.2 < found["paused"][0][1] - found["paused"][0][0] < 1.9
        kinds = [e.type.value for e in await h.services.bus.replay(0, EventFilter(types=["call.*"]))
                 if e.type.value.startswith("call.record")]
        assert kinds == ["call.recording.started", "call.recording.paused", "call.recording.resumed", "call.recorded"]

        url = f"{h.url}/api/v1/recordings/{found['id']}/audio"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {alice.token}"}) as session:
            async with session.get(url, headers={"Range": "bytes=0-43"}) as part:
                assert part.status == 206 and (await part.read())[:4] == b"RIFF"  # the WAV header, by Range
            async with session.get(url) as whole:
                assert whole.status == 200 and whole.headers["Content-Type"] == "audio/wav"
                assert len(await whole.read()) > 8000 * 4 * 2.8  # stereo 16-bit at 8 kHz
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {other.token}"}) as session:
            async with session.get(url) as foreign:
                assert foreign.status == 403  # another agent's call
            async with session.get(f"{h.url}/api/v1/recordings") as mine:
                assert (await mine.json())["items"] == []
        await alice.end(iid)
        await asyncio.to_thread(bob_phone.wait_call_over)

        path = await h.services.db.read(lambda c: c.execute(sa.select(models.recordings.c.path)).scalar())
        assert path and Path(path).is_file()  # noqa: ASYNC240 (a test reading its own temp folder)
        assert await RecordingRetention(h.services.db, days=1).purge(now=time.time() + 0.5 * 86400) == 0
        assert await RecordingRetention(h.services.db, days=1).purge(now=time.time() + 2 * 86400) == 1
        assert not Path(path).exists(), "retention removes the file itself"  # noqa: ASYNC240
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {alice.token}"}) as session:
            async with session.get(url) as gone:
                assert gone.status == 410
        assert (await alice.request("GET", f"/api/v1/recordings/{found['id']}"))["state"] == "deleted"
