"""Single sign-on with OpenID Connect: the authorization code flow with PKCE (RFC 7636).

``[auth.oidc]`` names the provider (``issuer``) and this server's client there (``client_id``,
``client_secret``; the redirect URI to register is ``{public_url}/api/v1/sessions/oidc/callback``).
A person who signs in there becomes the user whose login equals the ID token's ``login_claim``
(``email`` by default, which must then be ``email_verified``); nobody is created by sign-on, so
an admin decides who may use the desk and with which role.

The browser carries the pending sign-in (state, nonce, PKCE verifier, the page to return to) in a
short-lived HttpOnly cookie that this server made from random values: the callback must come back
to the same browser with the same ``state`` (no login CSRF), and the ID token must carry the
same ``nonce``. The ID token's signature is checked against the provider's published keys
(PyJWT), with its issuer, audience and expiry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import jwt

from cti.config import OidcConfig

PENDING_COOKIE = "cti_oidc"
PENDING_SECONDS = 600  # the person has ten minutes at the provider
CALLBACK_PATH = "/api/v1/sessions/oidc/callback"
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)
MAX_BODY = 1 << 20  # a discovery document, a key set or a token answer is far smaller
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
_LOCAL_PATH = re.compile(r"^/(?![/\\])[A-Za-z0-9/_.~-]{0,200}$")  # a page of this server, never //other.site


class SignOnFailed(Exception):
    """The sign-on did not prove who the person is; ``code`` goes back to the page."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True)
class Pending:
    """A sign-on between the redirect to the provider and the callback (kept in the browser's cookie)."""

    state: str
    nonce: str
    verifier: str
    next_path: str

    @classmethod
    def new(cls, next_path: str) -> Pending:
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48),
                   safe_next(next_path))

    def cookie(self) -> str:
        raw = json.dumps([self.state, self.nonce, self.verifier, self.next_path], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def from_cookie(cls, value: str) -> Pending:
        """The pending sign-on in a cookie, checked by shape (SignOnFailed when it is not one of ours)."""
        try:
            parts = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        except ValueError:
            parts = None
        if (not isinstance(parts, list) or len(parts) != 4 or not all(isinstance(p, str) for p in parts)
                or not all(_TOKEN.match(p) for p in parts[:3]) or not _LOCAL_PATH.match(parts[3])):
            raise SignOnFailed("sso_failed", "the sign-on was not started in this browser (or took too long)")
        return cls(*parts)

    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def safe_next(path: str | None) -> str:
    """Where to return after sign-on: a page of this server, else the desk."""
    return path if path and _LOCAL_PATH.match(path) else "/desk"


class OidcClient:
    """This server as an OpenID Connect relying party of one provider."""

    def __init__(self, settings: OidcConfig, public_url: str, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.redirect_uri = public_url.rstrip("/") + CALLBACK_PATH
        self._session = session
        self._metadata: dict[str, Any] | None = None
        self._keys: jwt.PyJWKSet | None = None
        self._keys_at = 0.0

    async def authorization_url(self, pending: Pending) -> str:
        endpoint = (await self._discover())["authorization_endpoint"]
        query = urlencode({"response_type": "code", "client_id": self.settings.client_id,
                           "redirect_uri": self.redirect_uri, "scope": self.settings.scopes,
                           "state": pending.state, "nonce": pending.nonce,
                           "code_challenge": pending.challenge(), "code_challenge_method": "S256"})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def login_of(self, code: str, state: str, pending: Pending) -> str:
        """The login that the provider vouches for, from the callback's ``code`` and ``state``."""
        if not secrets.compare_digest(state.encode(), pending.state.encode()):
            raise SignOnFailed("sso_failed", "the sign-on came back to a different browser or sign-on")
        tokens = await self._tokens(code, pending)
        claims = await self.verified_claims(str(tokens["id_token"]), pending)
        if self.settings.login_claim not in claims and isinstance(tokens.get("access_token"), str):
            claims = await self._with_userinfo(claims, str(tokens["access_token"]))
        login = claims.get(self.settings.login_claim)
        if not isinstance(login, str) or not login:
            raise SignOnFailed("sso_unknown_user", f"the provider sent no {self.settings.login_claim}")
        if self.settings.login_claim == "email" and claims.get("email_verified") is not True:
            raise SignOnFailed("sso_unknown_user", "the provider has not verified this email address")
        return login

    # ---- the provider ------------------------------------------------------------------------
    async def _call(self, method: str, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """One request to the provider: (status, JSON object), bounded in time and size."""
        try:
            async with self._session.request(method, url, timeout=HTTP_TIMEOUT, allow_redirects=False,
                                             **kwargs) as response:
                status, body = response.status, await response.content.read(MAX_BODY)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SignOnFailed("sso_unavailable", f"the provider cannot be reached: {exc}") from exc
        return status, _json_object(body)

    async def _get_json(self, url: str) -> dict[str, Any]:
        status, found = await self._call("GET", url)
        if status != 200:
            raise SignOnFailed("sso_unavailable", f"{url} answered {status}")
        return found

    async def _discover(self) -> dict[str, Any]:
        if self._metadata is None:
            issuer = self.settings.issuer.rstrip("/")
            found = await self._get_json(f"{issuer}/.well-known/openid-configuration")
            wanted = ("authorization_endpoint", "token_endpoint", "jwks_uri")
            if found.get("issuer") != self.settings.issuer or not all(isinstance(found.get(k), str) for k in wanted):
                raise SignOnFailed("sso_unavailable", "the provider's discovery document does not match [auth.oidc]")
            self._metadata = found
        return self._metadata

    async def _tokens(self, code: str, pending: Pending) -> dict[str, Any]:
        endpoint = (await self._discover())["token_endpoint"]
        # RFC 6749 2.3.1: the id and secret are form-encoded before they become Basic credentials.
        auth = aiohttp.BasicAuth(quote(self.settings.client_id, safe=""), quote(self.settings.client_secret, safe=""))
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "code_verifier": pending.verifier}
        status, answer = await self._call("POST", endpoint, data=form, auth=auth)
        if status != 200 or not isinstance(answer.get("id_token"), str):
            raise SignOnFailed("sso_failed", f"the provider refused the code: {answer.get('error', status)}")
        return answer

    async def _with_userinfo(self, claims: dict[str, Any], access_token: str) -> dict[str, Any]:
        """The ID token's claims with those the provider gives only from its UserInfo endpoint (OIDC Core
        5.4: scope claims go there when an access token is issued); its ``sub`` must be the token's."""
        endpoint = (await self._discover()).get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            return claims
        status, info = await self._call("GET", endpoint, headers={"Authorization": f"Bearer {access_token}"})
        if status != 200 or info.get("sub") != claims["sub"]:
            raise SignOnFailed("sso_failed", "the provider's UserInfo is not about the person who signed in")
        return {**info, **claims}

    async def _signing_key(self, kid: str | None) -> jwt.PyJWK:
        for attempt in range(2):  # the provider may have rotated its keys: fetch them again, at most once a minute
            if self._keys is None or (attempt and time.monotonic() - self._keys_at > 60):
                self._keys = jwt.PyJWKSet.from_dict(await self._get_json((await self._discover())["jwks_uri"]))
                self._keys_at = time.monotonic()
            found = [k for k in self._keys.keys if kid is None or k.key_id == kid]
            if found:
                return found[0]
        raise SignOnFailed("sso_failed", "the ID token is signed with a key the provider does not publish")

    def use_keys(self, jwks: dict[str, Any]) -> None:
        """Trust this key set (a JWKS document) instead of fetching the provider's, for a minute."""
        self._keys, self._keys_at = jwt.PyJWKSet.from_dict(jwks), time.monotonic()

    async def verified_claims(self, id_token: str, pending: Pending) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, expiry and nonce are checked."""
        try:
            header = jwt.get_unverified_header(id_token)
            algorithm = header.get("alg")
            if algorithm not in SIGNING_ALGORITHMS:
                raise SignOnFailed("sso_failed", f"the ID token's algorithm {algorithm!r} is not accepted")
            key = await self._signing_key(header.get("kid"))
            claims: dict[str, Any] = jwt.decode(
                id_token, key.key, algorithms=[algorithm], audience=self.settings.client_id,
                issuer=self.settings.issuer, leeway=60, options={"require": ["iss", "aud", "exp", "iat", "sub"]})
        except jwt.PyJWTError as exc:
            raise SignOnFailed("sso_failed", f"the ID token is not valid: {exc}") from exc
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != self.settings.client_id:
            raise SignOnFailed("sso_failed", "the ID token was made for another party (azp)")
        if not secrets.compare_digest(str(claims.get("nonce", "")).encode(), pending.nonce.encode()):
            raise SignOnFailed("sso_failed", "the ID token was not made for this sign-on (nonce)")
        return claims


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        found = json.loads(body)
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise SignOnFailed("sso_unavailable", "the provider answered something that is not a JSON object")
    return found
