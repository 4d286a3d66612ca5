"""The little SDP the server speaks (RFC 4566 / 3264): one audio stream, G.711 and RFC 4733 events."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

CODECS = {0: "PCMU/8000", 8: "PCMA/8000", 101: "telephone-event/8000"}


@dataclass(frozen=True)
class MediaDescription:
    """Where a party wants audio sent, and in which payload types (their preference first)."""

    host: str
    port: int
    payloads: tuple[int, ...]
    direction: str = "sendrecv"
    events_payload: int | None = None  # the payload type of RFC 4733 telephone-event, when offered


def offer(host: str, port: int, *, payloads: tuple[int, ...] = (0, 8, 101), direction: str = "sendrecv",
          session_id: int | None = None) -> bytes:
    """An SDP offer (or answer) for one audio stream at host:port."""
    sid = session_id or int.from_bytes(os.urandom(4), "big")
    lines = ["v=0", f"o=cti {sid} {sid} IN IP4 {host}", "s=cti", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP {' '.join(map(str, payloads))}"]
    lines += [f"a=rtpmap:{pt} {CODECS[pt]}" for pt in payloads if pt in CODECS]
    if 101 in payloads:
        lines.append("a=fmtp:101 0-15")
    lines += ["a=ptime:20", f"a={direction}"]
    return ("\r\n".join(lines) + "\r\n").encode()


def parse(body: bytes) -> MediaDescription:
    """The first audio stream of an SDP body; ValueError when there is none."""
    host, port, direction, events = "", 0, "sendrecv", None
    payloads: tuple[int, ...] = ()
    session_host = ""
    in_audio = False
    for raw in body.decode("utf-8", errors="replace").splitlines():
        line = raw.strip()
        if line.startswith("c=") and len(line.split()) >= 3:
            if in_audio:
                host = line.split()[2]
            else:
                session_host = line.split()[2]
        elif line.startswith("m="):
            parts = line[2:].split()
            in_audio = parts[0] == "audio" and not port
            if in_audio and len(parts) >= 4 and parts[1].isdigit():
                port = int(parts[1])
                payloads = tuple(int(p) for p in parts[3:] if p.isdigit())
        elif in_audio and line[2:] in ("sendrecv", "sendonly", "recvonly", "inactive") and line.startswith("a="):
            direction = line[2:]
        elif in_audio and line.startswith("a=rtpmap:") and "telephone-event/8000" in line.lower():
            number = line[len("a=rtpmap:"):].split()[0]
            events = int(number) if number.isdigit() else events
    if not port or not (host or session_host):
        raise ValueError("no audio stream in the SDP")
    return MediaDescription(host or session_host, port, payloads, direction, events)


def usable(media: MediaDescription) -> bool:
    """Whether audio can be sent where the description says: an IP address (no name to resolve,
    which could point anywhere) and a port from 1 to 65535."""
    try:
        address = ipaddress.ip_address(media.host)
    except ValueError:
        return False
    return 0 < media.port <= 65535 and not address.is_unspecified and not address.is_multicast


MIRROR = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive", "sendrecv": "sendrecv"}


def revise(body: bytes, direction: str) -> bytes:
    """Our earlier SDP for a new offer/answer in the same session (RFC 3264 section 8): the
    origin's version goes up by one and the stream's direction is the one given."""
    lines = []
    for line in body.decode().split("\r\n"):
        if line.startswith("o="):
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():
                parts[2] = str(int(parts[2]) + 1)
            line = " ".join(parts)
        elif line[2:] in MIRROR and line.startswith("a="):
            line = f"a={direction}"
        lines.append(line)
    return "\r\n".join(lines).encode()
