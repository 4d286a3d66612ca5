"""A SIP answering machine on the server's SIP layer, for the call-setup benchmark.

    python -m bench.sip_uas PORT

Answers every INVITE with 200 OK and SDP (through the transaction layer, dialogs and the
endpoint the connector uses), takes the ACK and the BYE. Prints its CPU seconds when stopped
with SIGTERM. No media: the benchmark measures signalling.
"""

from __future__ import annotations

import asyncio
import resource
import signal
import sys

from connectors.sip import sdp
from connectors.sip.call import CallManager
from connectors.sip.endpoint import SipEndpoint
from connectors.sip.incoming import IncomingCall
from connectors.sip.message import Request
from connectors.sip.register import Account
from connectors.sip.transaction import Addr


async def main(port: int) -> None:
    endpoint = SipEndpoint("127.0.0.1", port)
    manager = CallManager(endpoint, Account("cti", "", "127.0.0.1", ("127.0.0.1", 5060)), ("127.0.0.1", 5060))
    answer = sdp.offer("127.0.0.1", 40000, payloads=(0,))
    answered = 0

    def on_request(request: Request, source: Addr, key: tuple[str, ...] | None) -> None:
        nonlocal answered
        if request.method == "INVITE" and key is not None:
            IncomingCall(manager, request, key, source).answer(answer)
            answered += 1

    manager.fallback = on_request
    await endpoint.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"answered {answered} cpu {usage.ru_utime + usage.ru_stime:.3f}", flush=True)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1])))
