"""Where the server may send requests that an API caller chose (outbound webhook subscriptions).

A subscription URL that names a loopback, private, link-local or otherwise internal address would
let an admin token (or whoever stole one) make the server probe and post to the network behind
it (SSRF). Such targets are refused unless ``[webhooks] allow_private_targets = true`` (a
receiver on the same host or network, in development and tests). Names are resolved, and every
address they resolve to must be public; the check runs when the subscription is made and again
before each delivery (a name can change what it points to)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
import urllib.parse


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


class TargetPolicy:
    """Checks outbound URLs; answers are kept for a minute per host."""

    def __init__(self, allow_private: bool, *, cache_seconds: float = 60.0) -> None:
        self.allow_private = allow_private
        self.cache_seconds = cache_seconds
        self._answers: dict[tuple[str, int], tuple[str | None, float]] = {}

    async def refusal(self, url: str) -> str | None:
        """Why the server must not send to this URL, or None when it may."""
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return "the URL is not valid (its port?)"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "the URL must be http(s) with a host"
        if self.allow_private:
            return None
        key = (parts.hostname, port)
        kept = self._answers.get(key)
        if kept is not None and kept[1] > time.monotonic():
            return kept[0]
        answer = await self._check(parts.hostname, port)
        if len(self._answers) > 1000:
            self._answers.clear()
        self._answers[key] = (answer, time.monotonic() + self.cache_seconds)
        return answer

    @staticmethod
    async def _check(host: str, port: int) -> str | None:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            return f"{host} does not resolve ({exc.strerror or exc})"
        except (UnicodeError, ValueError):
            return f"{host!r} is not a valid host name"
        addresses = {info[4][0] for info in found}
        internal = sorted(a for a in addresses if _internal(a))
        if internal:
            return (f"{host} is an internal address ({', '.join(internal)}); set [webhooks] "
                    "allow_private_targets = true to allow receivers on this host or network")
        return None
