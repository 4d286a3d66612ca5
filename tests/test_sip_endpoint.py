"""The SIP endpoint on uvloop (what `cti serve` runs) as well as asyncio's own loop."""

from __future__ import annotations

import asyncio
import logging

import pytest
import uvloop

from connectors.sip.endpoint import SipEndpoint
from connectors.sip.message import Request, make_response


async def options_round_trip(drop_first: bool) -> tuple[int, int]:
    """An OPTIONS from one endpoint to another; with drop_first the network loses the first copy,
    so only timer E's retransmission gets it answered."""
    seen = 0

    def answer(request: Request, source: tuple[str, int], key: tuple[str, ...] | None) -> None:
        nonlocal seen
        seen += 1
        if key is not None:
            server.respond(key, make_response(request, 200, "OK", to_tag="t"))

    server, client = SipEndpoint(on_request=answer), SipEndpoint()
    await server.start()
    await client.start()
    if drop_first:  # lose the first datagram on the way in, as a lossy network would
        original = server.datagram_received
        dropped = []

        def lossy(data: bytes, addr: tuple[str, int]) -> None:
            if not dropped:
                dropped.append(data)
                return
            original(data, addr)

        server.datagram_received = lossy  # type: ignore[method-assign]
    request = Request(method="OPTIONS", uri=f"sip:x@127.0.0.1:{server.port}")
    for name, value in (("Via", client.via()), ("From", "<sip:a@127.0.0.1>;tag=1"), ("To", "<sip:x@127.0.0.1>"),
                        ("Call-ID", "c1"), ("CSeq", "1 OPTIONS"), ("Max-Forwards", "70")):
        request.headers.add(name, value)
    try:
        response = await client.request(request, ("127.0.0.1", server.port), timeout_seconds=5)
        return response.status, seen
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
@pytest.mark.parametrize("drop_first", [False, True])
def test_request_and_retransmission_on_both_loops(loop: str, drop_first: bool,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    factory = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    with caplog.at_level(logging.ERROR), asyncio.Runner(loop_factory=factory) as runner:
        status, seen = runner.run(options_round_trip(drop_first))
    assert status == 200
    assert seen == 1  # the first copy was lost, not seen twice: retransmissions are absorbed
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []  # no swallowed errors
