"""Configuration: one TOML file, every key overridable by ``CTI_<SECTION>__<KEY>`` variables.

Unknown keys and bad values stop the server at start with a message naming the key. Connector
sections are kept as raw tables here and validated by each connector when it is loaded.

``Config`` holds the core's sections. A feature package adds its own section by extending it in
the composition root (``cti/main.py:AppConfig`` adds ``[pivot]``), so the core never imports a
feature to validate its settings; ``load_config(schema=...)`` validates against that whole schema.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cti.errors import ConfigError
from cti.routing.policy import RoutingPolicy
from cti.social.settings import SocialConfig

ENV_PREFIX = "CTI_"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = ""
    data_dir: str = "./data"
    database_url: str = ""
    sqlite_synchronous: Literal["full", "normal"] = "full"
    write_batch_max: int = Field(default=256, ge=1, le=10_000)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    shutdown_drain_seconds: float = Field(default=10.0, ge=0)
    node_id: str = ""
    internal_url: str = ""  # where the other nodes reach this one (default: the listening address)
    lease_seconds: float = Field(default=10.0, ge=1.0, le=300.0)

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'cti.db'}"

    def resolved_internal_url(self) -> str:
        """Where the other nodes of a cluster reach this one (voice requests are forwarded there)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return (self.internal_url or f"http://{host}:{self.port}").rstrip("/")

    def resolved_public_url(self) -> str:
        """The public base URL, defaulting to the listening address."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class CustomChannelConfig(_Strict):
    """A channel driven through the custom-channel API (``POST /api/v1/inbound``)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    outbound_url: str = ""
    secret: str = ""
    capacity_class: str = "chat"
    timeout: float = Field(default=10.0, gt=0)


ORIGIN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$"


class WebchatConfig(_Strict):
    """``[channels.webchat]``: the chat widget on the company's own site (the ``webchat`` package).

    Only pages of ``allowed_origins`` (scheme://host[:port], exactly as the browser sends Origin)
    may start conversations; this server's own pages (a pivot link to chat) always may."""

    enabled: bool = True
    name: str = Field(default="webchat", min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    allowed_origins: list[str] = Field(default_factory=list, max_length=200)
    company_name: str = Field(default="Customer support", min_length=1, max_length=100)
    max_message_chars: int = Field(default=4000, ge=1, le=20_000)
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=50 * 1024 * 1024)
    attachment_types: list[str] = Field(default_factory=lambda: [
        "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"])
    messages_per_minute: int = Field(default=30, ge=1)  # per visitor
    address_messages_per_minute: int = Field(default=300, ge=1)  # per client address (many visitors behind one)
    sessions_per_hour_per_address: int = Field(default=60, ge=1)
    connections_per_visitor: int = Field(default=5, ge=1, le=50)  # tabs; the oldest goes when one more opens
    max_connections: int = Field(default=10_000, ge=1)  # open widget sockets on this node
    visitor_days: float = Field(default=30.0, gt=0, le=365)  # a visitor token lasts this long after its last use
    abandon_after_seconds: float = Field(default=300.0, ge=5)  # a waiting chat whose visitor left this long ago
    trust_forwarded_for: bool = False  # the client address from X-Forwarded-For (behind a proxy only)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        out = [v.strip().rstrip("/").lower() for v in value]
        for origin in out:
            if not re.match(ORIGIN, origin):
                raise ValueError(f"{origin!r} is not an origin like https://shop.example.com")
        return out


class ChannelsConfig(_Strict):
    custom: list[CustomChannelConfig] = Field(default_factory=list)
    webchat: WebchatConfig | None = None


class WebhookConfig(_Strict):
    """Delivery of outbound webhooks and outbound custom-channel posts."""

    max_attempts: int = Field(default=12, ge=1)
    initial_backoff: float = Field(default=1.0, gt=0)
    max_backoff: float = Field(default=300.0, gt=0)
    timeout: float = Field(default=10.0, gt=0)
    allow_private_targets: bool = False  # subscriptions may name loopback/private addresses (cti/targets.py)


class OidcConfig(_Strict):
    """``[auth.oidc]``: single sign-on with an OpenID Connect provider (cti/sso.py)."""

    issuer: str = Field(pattern=r"^https?://[^\s?#]+$")
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: str = Field(min_length=1, max_length=500)
    name: str = Field(default="single sign-on", min_length=1, max_length=60)  # the button: "Sign in with {name}"
    scopes: str = Field(default="openid email profile", pattern=r"^openid( [\x21-\x7e]+)*$")
    login_claim: str = Field(default="email", pattern=r"^[a-z_]{1,40}$")  # the claim that is the user's login


class AuthConfig(_Strict):
    """``[auth]``: people who sign in (cti/services/people.py)."""

    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)  # a session ends this long after sign-in
    oidc: OidcConfig | None = None


class ReportsConfig(_Strict):
    sla_seconds: dict[str, float] = Field(
        default_factory=lambda: {"voice": 20.0, "chat": 60.0, "social": 3600.0, "email": 86400.0}
    )
    short_abandon_seconds: float = 5.0
    # Finished interactions are folded into report blocks this often (cti/report_rollup.py); a report
    # reads the blocks and the few interactions not folded yet, so it is exact either way.
    rollup_seconds: float = Field(default=10.0, gt=0, le=3600)


class ApprovalConfig(_Strict):
    """``[approval]``: which public replies wait for a supervisor before they go out (cti/services/approvals.py).

    A reply is public when it is sent in ``public`` mode on a network that has public replies (a tweet,
    a page comment). It is held when ``public_replies`` is on, when its agent is marked
    ``needs_approval``, or when it contains one of ``words`` (whole words, any case)."""

    public_replies: bool = False
    words: list[str] = Field(default_factory=list, max_length=500)

    @field_validator("words")
    @classmethod
    def _words(cls, words: list[str]) -> list[str]:
        cleaned = [w.strip() for w in words]
        if any(not w or len(w) > 100 for w in cleaned):
            raise ValueError("each word must be 1-100 characters")
        return cleaned


class SurveyConfig(_Strict):
    """``[surveys]``: the satisfaction survey sent after wrap-up (cti/surveys.py)."""

    # Written channels whose interactions get a survey after wrap-up (e.g. ["email", "x", "shop-chat"]);
    # empty: never. Calls have no written channel of their own and get none.
    channels: list[str] = Field(default_factory=list, max_length=100)
    valid_days: float = Field(default=7.0, gt=0, le=90)
    company_name: str = Field(default="Customer support", min_length=1, max_length=100)
    # How much each answer moves the agent's routing rating (0: the rating is what an admin set;
    # 0.1: an exponential average of the customers' ratings, each new one weighing 10 %).
    rating_weight: float = Field(default=0.0, ge=0, le=1)


class RecordingConfig(_Strict):
    """``[recording]``: which calls are recorded and how long recordings are kept (cti/services/recordings.py)."""

    # all: every call from the moment its customer is connected; on_demand: when an agent asks
    # (POST .../recording); none: never (a request to start is refused)
    record: Literal["all", "on_demand", "none"] = "on_demand"
    retention_days: float = Field(default=0.0, ge=0)  # 0: kept until deleted by hand; else the file goes after


class Config(_Strict):
    server: ServerConfig = Field(default_factory=ServerConfig)
    connectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    routing: RoutingPolicy = Field(default_factory=RoutingPolicy)
    webhooks: WebhookConfig = Field(default_factory=WebhookConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)
    surveys: SurveyConfig = Field(default_factory=SurveyConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    social: SocialConfig = Field(default_factory=SocialConfig)

    def custom_channel(self, name: str) -> CustomChannelConfig | None:
        """The custom channel of that name, if configured."""
        return self._custom_by_name.get(name)

    @functools.cached_property
    def _custom_by_name(self) -> dict[str, CustomChannelConfig]:
        return {c.name: c for c in self.channels.custom}


def _env_value(raw: str) -> Any:
    """Environment values are strings; JSON arrays/objects are parsed, the rest left to pydantic."""
    stripped = raw.strip()
    if stripped[:1] in "[{":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return raw
    return raw


def apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str],
                        origins: dict[str, str] | None = None) -> dict[str, Any]:
    """Return data with ``CTI_A__B__C=value`` variables set at ``data[a][b][c]``; ``origins`` (when
    given) learns which variable set each dotted key, so that errors can name the variable."""
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: {'.'.join(path)} is not a table in the configuration")
            node = child
        node[path[-1]] = _env_value(raw)
        if origins is not None:
            origins[".".join(path)] = name
    return data


def _format_validation_error(error: ValidationError, origins: Mapping[str, str]) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        variable = next((origins[k] for k in sorted(origins, key=len, reverse=True)
                         if key == k or key.startswith(k + ".")), None)
        message = "unknown setting" if item["type"] == "extra_forbidden" else item["msg"]
        lines.append(f"environment variable {variable} ({key}): {message}" if variable else f"{key}: {message}")
    return "invalid configuration: " + "; ".join(lines)


ConfigT = TypeVar("ConfigT", bound=Config)


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
    schema: type[ConfigT] = Config,  # type: ignore[assignment]
) -> ConfigT:
    """Read the TOML file (if any), apply environment and explicit overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"configuration file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    origins: dict[str, str] = {}
    apply_env_overrides(data, os.environ if environ is None else environ, origins)
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origins)) from exc
