"""Who may start a call with the server (sans-IO): the trust model of inbound INVITEs.

A new INVITE (one that opens no dialog of ours) is taken only when

1. it comes from a trusted address: the registrar/proxy the server registers with (its resolved
   addresses) or a trunk the operator lists in ``trusted_sources`` (addresses or networks);
   anyone else gets 403 and nothing else (no call, no media, no interaction);
2. its Request-URI is ours: our account's user at one of our hosts (404 otherwise);
3. its source is within its rate (a token bucket per address; 503 with Retry-After past it).

Refusals are counted per reason, so a flood is one summary line, not one line per packet.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from connectors.sip.address import parse_uri
from connectors.sip.message import Request, SipParseError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(text: str) -> Network:
    return ipaddress.ip_network(text.strip(), strict=False)


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class CallGate:
    """Decides, for each new INVITE, whether to take it; ``refused`` counts what it turned away."""

    account_user: str
    our_hosts: set[str]
    rate_per_second: float = 20.0
    burst: float = 40.0
    trusted: list[Network] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def trust(self, sources: Iterable[str]) -> None:
        """Add addresses or networks (``10.0.0.0/24``) whose INVITEs are taken."""
        for source in sources:
            network = _network(source)
            if network not in self.trusted:
                self.trusted.append(network)

    def is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def check(self, request: Request, source: tuple[str, int], now: float) -> tuple[int, str] | None:
        """None to take the INVITE, else the (status, reason) to refuse it with."""
        if not self.is_trusted(source[0]):
            return self._refuse("untrusted_source", 403, "Forbidden")
        try:
            target = parse_uri(request.uri)
        except SipParseError:
            return self._refuse("not_ours", 404, "Not Found")
        if (target.user or "") != self.account_user or target.host.strip("[]").lower() not in self.our_hosts:
            return self._refuse("not_ours", 404, "Not Found")
        if not self._within_rate(source[0], now):
            return self._refuse("rate", 503, "Service Unavailable")
        return None

    def _within_rate(self, address: str, now: float) -> bool:
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) > 10_000:
                self._buckets.clear()
            bucket = self._buckets[address] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate_per_second)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def _refuse(self, why: str, status: int, reason: str) -> tuple[int, str]:
        self.refused[why] += 1
        return status, reason
