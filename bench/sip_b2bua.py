"""A B2BUA on the server's SIP layer and RTP relay, for the bridged-call benchmarks.

    python -m bench.sip_b2bua PORT TARGET_PORT [--announce] [--probe HOST:PORT]

Every INVITE to PORT is answered (leg a) and a second call is placed to 127.0.0.1:TARGET_PORT
(leg b) through the same transaction layer, dialogs and endpoint the SIP connector runs; RTP
is relayed between the legs untouched (``RtpRelay``: two sockets per call). A BYE on either leg
hangs up the other. With --announce it prints each bridged call's leg-a RTP port. With --probe,
calls to the user ``sample`` take their leg-a media from that address (the benchmark's probe is
the party there: the relay latches only to the address a party is signalled at). On SIGTERM
it prints (to stderr) its CPU seconds and how many calls it bridged.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
import sys
from typing import Any

from connectors.sip import sdp
from connectors.sip.call import CallFailed, CallManager
from connectors.sip.endpoint import SipEndpoint
from connectors.sip.incoming import IncomingCall
from connectors.sip.message import Request
from connectors.sip.register import Account
from connectors.sip.relay import RtpRelay
from connectors.sip.session import first_to_end
from connectors.sip.transaction import Addr


class B2bua:
    def __init__(self, port: int, target_port: int, *, announce: bool, endpoint: SipEndpoint | None = None,
                 probe: tuple[str, int] | None = None) -> None:
        self.announce, self.probe = announce, probe
        self.endpoint = endpoint or SipEndpoint("127.0.0.1", port)
        target = ("127.0.0.1", target_port)
        self.manager = CallManager(self.endpoint, Account("b2bua", "", "127.0.0.1", target), target,
                                   fallback=self.on_request)
        self.target = f"sip:service@127.0.0.1:{target_port}"
        self.bridged = self.failed = self.active = self.peak = self.relayed = 0
        self.tasks: set[asyncio.Task[Any]] = set()
        self.failures: list[str] = []  # why the second call failed (the far end's final answer)

    def on_request(self, request: Request, source: Addr, key: tuple[str, ...] | None) -> None:
        if request.method == "INVITE" and key is not None:
            task = asyncio.get_running_loop().create_task(self.bridge(IncomingCall(self.manager, request, key, source)))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def bridge(self, inbound: IncomingCall) -> None:
        media = inbound.media
        if media is None:
            inbound.reject(488, "Not Acceptable Here")
            return
        relay = RtpRelay()
        port_a, port_b = await relay.open()
        sample = inbound.invite.uri.split(":", 1)[-1].split("@")[0] == "sample"
        relay.set_peer("a", self.probe if sample and self.probe else (media.host, media.port))
        outbound = self.manager.call(self.target)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            try:
                answer = await outbound.dial(sdp.offer("127.0.0.1", port_b, payloads=(0,)), ring_seconds=30)
            except CallFailed as exc:
                inbound.reject(503, "Service Unavailable")
                self.failed += 1
                self.failures.append(str(exc))
                return
            relay.set_peer("b", (answer.host, answer.port))
            inbound.answer(sdp.offer("127.0.0.1", port_a, payloads=(0,)))
            self.bridged += 1
            if self.announce:
                user = inbound.invite.uri.split(":", 1)[-1].split("@")[0]
                print(f"port {port_a} {user}", flush=True)  # the media benchmark streams to this port
            ended = await first_to_end(inbound, outbound)  # type: ignore[arg-type]
            await (outbound if ended is inbound else inbound).hangup()
        finally:
            self.active -= 1
            self.relayed += relay.a.forwarded + relay.b.forwarded
            relay.close()


async def main(port: int, target_port: int, announce: bool, probe: tuple[str, int] | None) -> None:
    b2bua = B2bua(port, target_port, announce=announce, probe=probe)
    await b2bua.endpoint.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"bridged {b2bua.bridged} failed {b2bua.failed} peak {b2bua.peak} "
          f"cpu {usage.ru_utime + usage.ru_stime:.3f} relayed {b2bua.relayed}", file=sys.stderr, flush=True)
    for task in list(b2bua.tasks):
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*b2bua.tasks, return_exceptions=True)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    probe_at = sys.argv[sys.argv.index("--probe") + 1] if "--probe" in sys.argv else None
    probe = (probe_at.rsplit(":", 1)[0], int(probe_at.rsplit(":", 1)[1])) if probe_at else None
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), "--announce" in sys.argv, probe))
