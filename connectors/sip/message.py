"""SIP messages (RFC 3261 section 7): parsing that survives hostile input, and serialization.

``parse_message(data)`` returns a ``Request`` or ``Response`` or raises ``SipParseError``, and
nothing else, whatever the bytes: the transport drops what it cannot read and goes on. Header
names are case-insensitive and compact forms (``v``, ``i``, ``f``...) are expanded; folded lines
are unfolded; Content-Length decides the body (a datagram with fewer bytes than announced is an
error; extra bytes are ignored, as RFC 3261 18.3 asks). Limits keep one packet from costing
much: 64 KB per message, 256 headers, 8 KB per header value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_MESSAGE = 65_535
MAX_HEADERS = 256
MAX_HEADER_VALUE = 8_192
COMPACT = {"v": "Via", "i": "Call-ID", "m": "Contact", "f": "From", "t": "To", "l": "Content-Length",
           "c": "Content-Type", "e": "Content-Encoding", "k": "Supported", "s": "Subject", "o": "Event",
           "r": "Refer-To", "b": "Referred-By", "x": "Session-Expires", "u": "Allow-Events"}
CANONICAL = {name.lower(): name for name in (
    "Via", "Call-ID", "Contact", "From", "To", "Content-Length", "Content-Type", "Content-Encoding", "Supported",
    "Subject", "Event", "Refer-To", "Referred-By", "Session-Expires", "Allow-Events", "CSeq", "Max-Forwards",
    "Route", "Record-Route", "WWW-Authenticate", "Proxy-Authenticate", "Authorization", "Proxy-Authorization",
    "Expires", "User-Agent", "Server", "Allow", "Accept", "Require", "Proxy-Require", "Unsupported",
    "Min-Expires", "Retry-After", "Timestamp", "Warning", "Reason", "RSeq", "RAck", "Date", "Organization",
    "Priority", "Alert-Info", "Call-Info", "In-Reply-To", "Reply-To", "MIME-Version", "Error-Info",
    "Authentication-Info", "Content-Disposition", "Content-Language", "Accept-Encoding", "Accept-Language",
    "P-Asserted-Identity", "Privacy", "Path", "Service-Route", "Subscription-State", "Replaces")}
# A method is an RFC 3261 token; a header name too.
TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
REQUEST_LINE = re.compile(r"^([A-Za-z0-9\-.!%*_+`'~]+) (\S+) SIP/2\.0$")
STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6]\d\d) ?(.*)$")
CSEQ = re.compile(r"^\s*(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)\s*$")


class SipParseError(ValueError):
    """The bytes are not a SIP message this parser accepts; the reason says why."""


class Headers:
    """Ordered, case-insensitive, multi-valued headers (one entry per header line or comma item)."""

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in items or []:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of the header."""
        key = canonical_name(name).lower()
        return next((v for n, v in self._items if n.lower() == key), default)

    def get_all(self, name: str) -> list[str]:
        """Every value, comma-separated lists split (outside quotes and angle brackets)."""
        key = canonical_name(name).lower()
        values: list[str] = []
        for n, v in self._items:
            if n.lower() == key:
                values.extend(split_list(v) if key not in NOT_LISTS else [v])
        return values

    def set(self, name: str, value: str) -> None:
        """Replace every value of the header with one."""
        self.remove(name)
        self.add(name, value)

    def remove(self, name: str) -> None:
        key = canonical_name(name).lower()
        self._items = [(n, v) for n, v in self._items if n.lower() != key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def copy(self) -> Headers:
        return Headers(list(self._items))


# Headers whose values contain commas that do not separate list items.
NOT_LISTS = {"www-authenticate", "proxy-authenticate", "authorization", "proxy-authorization", "date",
             "user-agent", "server", "subject", "warning", "organization", "call-id", "retry-after"}


def canonical_name(name: str) -> str:
    low = name.strip().lower()
    if low in COMPACT:
        return COMPACT[low]
    return CANONICAL.get(low, name.strip())


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quotes and <...>."""
    items, current, quoted, angle, escaped = [], [], False, 0, False
    for ch in value:
        if escaped:
            current.append(ch)
            escaped = False
            continue
        if ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "<" and not quoted:
            angle += 1
        elif ch == ">" and not quoted and angle:
            angle -= 1
        elif ch == "," and not quoted and not angle:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    items.append("".join(current).strip())
    return [item for item in items if item]


@dataclass
class Message:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        match = CSEQ.match(self.headers.get("CSeq") or "")
        if match is None:
            raise SipParseError("missing or malformed CSeq")
        return int(match.group(1)), match.group(2)  # methods are case-sensitive (RFC 3261 7.1)

    def serialize(self, start_line: str) -> bytes:
        lines = [start_line]
        for name, value in self.headers:
            if name != "Content-Length":
                lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class Request(Message):
    method: str = "OPTIONS"
    uri: str = ""

    def to_bytes(self) -> bytes:
        return self.serialize(f"{self.method} {self.uri} SIP/2.0")


@dataclass
class Response(Message):
    status: int = 200
    reason: str = "OK"

    def to_bytes(self) -> bytes:
        return self.serialize(f"SIP/2.0 {self.status} {self.reason}")


def make_response(request: Request, status: int, reason: str, *, to_tag: str | None = None) -> Response:
    """A response to the request with the headers RFC 3261 8.2.6.2 copies (Via, From, To, Call-ID, CSeq)."""
    response = Response(status=status, reason=reason)
    for via in request.headers.get_all("Via"):
        response.headers.add("Via", via)
    response.headers.add("From", request.headers.get("From") or "")
    to = request.headers.get("To") or ""
    if to_tag and ";tag=" not in to:
        to = f"{to};tag={to_tag}"
    response.headers.add("To", to)
    response.headers.add("Call-ID", request.call_id)
    response.headers.add("CSeq", request.headers.get("CSeq") or "")
    return response


def parse_message(data: bytes) -> Request | Response:
    """Parse one SIP message; raise SipParseError (only) when it cannot be read."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError(f"message of {len(data)} bytes is over the {MAX_MESSAGE}-byte limit")
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, rest = data.partition(b"\n\n")
        if not sep:
            raise SipParseError("no blank line after the headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("latin-1")  # hostile or legacy bytes: still parse the structure
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)  # RFC 3261 7.5: ignore empty lines before the start line (keep-alives)
    if not lines:
        raise SipParseError("empty message")
    start, header_lines = lines[0], _unfold(lines[1:])
    headers = Headers()
    for line in header_lines:
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or not TOKEN.match(name):
            raise SipParseError(f"malformed header line {line[:60]!r}")
        value = value.strip()
        if len(value) > MAX_HEADER_VALUE:
            raise SipParseError(f"header {name} is over {MAX_HEADER_VALUE} bytes")
        headers.add(name, value)
    if len(list(headers)) > MAX_HEADERS:
        raise SipParseError(f"more than {MAX_HEADERS} headers")
    body = _body(headers, rest)
    message: Request | Response
    if start.startswith("SIP/"):
        match = STATUS_LINE.match(start)
        if match is None:
            raise SipParseError(f"malformed status line {start[:60]!r}")
        message = Response(headers=headers, body=body, status=int(match.group(1)), reason=match.group(2))
    else:
        match = REQUEST_LINE.match(start)
        if match is None:
            raise SipParseError(f"malformed request line {start[:60]!r}")
        # Methods are case-sensitive (RFC 3261 7.1): "invite" is an unknown method, not INVITE.
        message = Request(headers=headers, body=body, method=match.group(1), uri=match.group(2))
    _check_mandatory(message)
    return message


def _unfold(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and out:
            out[-1] += " " + line.strip()
        elif line.strip():
            out.append(line)
    return out


def _body(headers: Headers, rest: bytes) -> bytes:
    raw = headers.get("Content-Length")
    if raw is None:
        return rest  # stream transports require it; on UDP the datagram ends the body
    if not raw.isdigit() or len(raw) > 7:
        raise SipParseError(f"malformed Content-Length {raw[:20]!r}")
    length = int(raw)
    if length > len(rest):
        raise SipParseError(f"Content-Length {length} but only {len(rest)} body bytes")
    return rest[:length]


def _check_mandatory(message: Request | Response) -> None:
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if name not in message.headers:
            raise SipParseError(f"missing {name}")
    number, method = message.cseq
    if number >= 2**31:
        raise SipParseError("CSeq number out of range")
    if isinstance(message, Request) and method != message.method:
        raise SipParseError(f"CSeq method {method} does not match {message.method}")
    for via in message.headers.get_all("Via"):
        parse_via(via)


@dataclass(frozen=True)
class Via:
    """One Via value: protocol, sent-by host and port, parameters (branch, rport, received...)."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    @property
    def branch(self) -> str:
        return self.params.get("branch") or ""

    def sent_by(self) -> tuple[str, int]:
        return self.host.lower(), self.port or (5061 if self.transport == "TLS" else 5060)


VIA = re.compile(r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)"
                 r"(?:\s*:\s*(\d{1,5}))?\s*(.*)$")


def parse_via(value: str) -> Via:
    """A Via header value; SipParseError when malformed (including a port over 65535)."""
    match = VIA.match(value.strip())
    if match is None:
        raise SipParseError(f"malformed Via {value[:60]!r}")
    port = int(match.group(3)) if match.group(3) else None
    if port is not None and not 0 < port <= 65535:
        raise SipParseError(f"Via port {port} out of range")
    return Via(match.group(1).upper(), match.group(2), port, parse_params(match.group(4)))


def parse_params(text: str) -> dict[str, str | None]:
    """``;a=b;c`` into {"a": "b", "c": None} (names lower-cased; quoted values unquoted)."""
    params: dict[str, str | None] = {}
    for part in split_outside_quotes(text, ";"):
        part = part.strip()
        if not part:
            continue
        name, eq, value = part.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        params[name.strip().lower()] = value if eq else None
    return params


def split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts
