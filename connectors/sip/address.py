"""SIP URIs and name-addr values (From, To, Contact, Route): RFC 3261 sections 19.1 and 20.10."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from connectors.sip.message import SipParseError, parse_params, split_outside_quotes

URI = re.compile(r"^(sips?):(?:([^@;?]+)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?::(\d{1,5}))?([^?]*)(?:\?(.*))?$",
                 re.IGNORECASE)


@dataclass(frozen=True)
class SipUri:
    scheme: str
    user: str | None
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str | None = None

    def __str__(self) -> str:
        text = f"{self.scheme}:" + (f"{self.user}@" if self.user else "") + self.host
        if self.port:
            text += f":{self.port}"
        text += "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        return text + (f"?{self.headers}" if self.headers else "")

    def with_params(self, **params: str | None) -> SipUri:
        return replace(self, params={**self.params, **params})

    @property
    def hostport(self) -> tuple[str, int]:
        return self.host, self.port or (5061 if self.scheme == "sips" else 5060)


def parse_uri(text: str) -> SipUri:
    """A sip: or sips: URI; SipParseError otherwise."""
    match = URI.match(text.strip())
    if match is None:
        raise SipParseError(f"not a SIP URI: {text[:60]!r}")
    port = int(match.group(4)) if match.group(4) else None
    if port is not None and not 0 < port <= 65535:
        raise SipParseError(f"URI port {port} out of range")
    return SipUri(match.group(1).lower(), match.group(2), match.group(3), port, parse_params(match.group(5)),
                  match.group(6))


@dataclass(frozen=True)
class Address:
    """``"Display" <uri>;params``; ``uri`` stays text so tel: and other schemes pass through."""

    uri: str
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> Address:
        return replace(self, params={**self.params, "tag": tag})

    def sip_uri(self) -> SipUri:
        return parse_uri(self.uri)

    def __str__(self) -> str:
        display = f'"{self.display}" ' if self.display else ""
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        return f"{display}<{self.uri}>{params}"


def parse_address(value: str) -> Address:
    """A name-addr or addr-spec header value."""
    text = value.strip()
    if "<" in text:
        display, _, rest = text.partition("<")
        uri, closed, params = rest.partition(">")
        if not closed:
            raise SipParseError(f"unclosed '<' in {value[:60]!r}")
        display = display.strip()
        if display.startswith('"') and display.endswith('"') and len(display) >= 2:
            display = display[1:-1]
        return Address(uri.strip(), display or None, parse_params(params))
    # addr-spec: parameters after the URI belong to the header (RFC 3261 20.10)
    parts = split_outside_quotes(text, ";")
    if not parts[0].strip():
        raise SipParseError(f"empty address {value[:60]!r}")
    return Address(parts[0].strip(), None, parse_params(";".join(parts[1:])))
