"""REGISTER with digest authentication (RFC 3261 section 10), for one account."""

from __future__ import annotations

import re
from dataclasses import dataclass

from connectors.sip.address import parse_address
from connectors.sip.digest import UnsupportedChallenge, authorization, parse_challenge
from connectors.sip.endpoint import SipEndpoint, new_token
from connectors.sip.message import Request, Response
from connectors.sip.transaction import Addr


class RegistrationRefused(Exception):
    """The registrar refused the credentials (or the account)."""


class RegistrationFailed(Exception):
    """The registrar answered with an error that retrying later may cure, or did not answer."""


@dataclass
class Account:
    username: str
    password: str
    domain: str
    registrar: Addr
    expires: int = 300


class Registration:
    """Keeps one contact registered; call ``register()`` again before ``expires`` runs out."""

    def __init__(self, endpoint: SipEndpoint, account: Account, *, answer_timeout: float = 5.0) -> None:
        self.endpoint, self.account, self.answer_timeout = endpoint, account, answer_timeout
        endpoint.user = account.username
        self.call_id = f"{new_token(12)}@{endpoint.host}"
        self.tag = new_token(6)
        self.cseq = 0
        self.granted = 0

    def _request(self, expires: int) -> Request:
        self.cseq += 1
        aor = f"<sip:{self.account.username}@{self.account.domain}>"
        request = self.endpoint.new_request("REGISTER", f"sip:{self.account.domain}", from_=f"{aor};tag={self.tag}",
                                            to=aor, call_id=self.call_id, seq=self.cseq)
        request.headers.add("Expires", str(expires))
        return request

    async def register(self, expires: int | None = None) -> int:
        """Register (expires 0: unregister); the granted expiry in seconds."""
        wanted = self.account.expires if expires is None else expires
        try:
            response = await self.endpoint.request(self._request(wanted), self.account.registrar,
                                                   timeout_seconds=self.answer_timeout)
        except TimeoutError as exc:
            raise RegistrationFailed("the registrar did not answer") from exc
        if response.status in (401, 407):
            response = await self._authenticate(response, wanted)
        if response.status in (401, 403, 407):
            raise RegistrationRefused(f"{response.status} {response.reason}: check username and password")
        if response.status == 423 and (minimum := response.headers.get("Min-Expires") or "").isdigit():
            return await self.register(int(minimum))
        if not 200 <= response.status < 300:
            raise RegistrationFailed(f"{response.status} {response.reason}")
        self.granted = 0 if wanted == 0 else self._granted(response, wanted)
        return self.granted

    async def _authenticate(self, challenge: Response, expires: int) -> Response:
        header = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
        answer = "Authorization" if challenge.status == 401 else "Proxy-Authorization"
        try:
            parsed = parse_challenge(challenge.headers.get(header) or "")
        except UnsupportedChallenge as exc:
            raise RegistrationRefused(f"cannot answer the registrar's challenge: {exc}") from exc
        request = self._request(expires)
        request.headers.add(answer, authorization(parsed, method="REGISTER", uri=request.uri,
                                                  username=self.account.username, password=self.account.password))
        try:
            return await self.endpoint.request(request, self.account.registrar, timeout_seconds=self.answer_timeout)
        except TimeoutError as exc:
            raise RegistrationFailed("the registrar did not answer") from exc

    def _granted(self, response: Response, wanted: int) -> int:
        ours = f"{self.endpoint.host}:{self.endpoint.port}"
        for value in response.headers.get_all("Contact"):
            address = parse_address(value)
            if ours in address.uri and (expires := address.params.get("expires")) and expires.isdigit():
                return int(expires)
        header = response.headers.get("Expires") or ""
        return int(header) if re.fullmatch(r"\d+", header) else wanted
