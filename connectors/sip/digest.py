"""HTTP digest authentication for SIP (RFC 3261 22.4, RFC 2617, RFC 8760 algorithms).

Answers 401 (WWW-Authenticate -> Authorization) and 407 (Proxy-Authenticate ->
Proxy-Authorization) challenges with MD5 or SHA-256, with or without qop=auth.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from connectors.sip.message import parse_params, split_list

HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256, "MD5-SESS": hashlib.md5, "SHA-256-SESS": hashlib.sha256}


class UnsupportedChallenge(ValueError):
    """A challenge this client cannot answer (another scheme, algorithm or qop)."""


@dataclass(frozen=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False


def parse_challenge(value: str) -> Challenge:
    """A WWW-Authenticate or Proxy-Authenticate value."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise UnsupportedChallenge(f"scheme {scheme!r} is not Digest")
    params = parse_params(";".join(split_list(rest)))
    if params.get("realm") is None or params.get("nonce") is None:
        raise UnsupportedChallenge("challenge without realm or nonce")
    algorithm = (params.get("algorithm") or "MD5").upper()
    if algorithm not in HASHES:
        raise UnsupportedChallenge(f"algorithm {algorithm} is not supported")
    qop = tuple(q.strip().lower() for q in (params.get("qop") or "").split(",") if q.strip())
    if qop and "auth" not in qop:
        raise UnsupportedChallenge(f"qop {qop} without 'auth'")
    return Challenge(params.get("realm") or "", params.get("nonce") or "", algorithm, qop, params.get("opaque"),
                     (params.get("stale") or "").lower() == "true")


def authorization(challenge: Challenge, *, method: str, uri: str, username: str, password: str, nc: int = 1,
                  cnonce: str | None = None) -> str:
    """The Authorization / Proxy-Authorization value answering the challenge."""
    digest = HASHES[challenge.algorithm]

    def h(text: str) -> str:
        return digest(text.encode()).hexdigest()

    cnonce = cnonce or os.urandom(8).hex()
    ha1 = h(f"{username}:{challenge.realm}:{password}")
    if challenge.algorithm.endswith("-SESS"):
        ha1 = h(f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    fields = [f'username="{username}"', f'realm="{challenge.realm}"', f'nonce="{challenge.nonce}"', f'uri="{uri}"']
    if challenge.qop:
        count = f"{nc:08x}"
        response = h(f"{ha1}:{challenge.nonce}:{count}:{cnonce}:auth:{ha2}")
        fields += [f'response="{response}"', "qop=auth", f"nc={count}", f'cnonce="{cnonce}"']
    else:
        fields.append(f'response="{h(f"{ha1}:{challenge.nonce}:{ha2}")}"')
    fields.append(f"algorithm={challenge.algorithm}")
    if challenge.opaque is not None:
        fields.append(f'opaque="{challenge.opaque}"')
    return "Digest " + ", ".join(fields)
