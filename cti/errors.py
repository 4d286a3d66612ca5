"""The core's exception tree.

CtiError
├── ApiError               an error with an HTTP status and a stable code, shown to API clients
│   ├── InvalidInput       400, field details
│   ├── Unauthorized       401
│   ├── Forbidden          403
│   ├── NotFound           404
│   ├── Conflict           409 (e.g. invalid_transition)
│   ├── Unprocessable      422
│   ├── RateLimited        429 with Retry-After
│   └── Unavailable        503
└── ConfigError            the configuration file or environment is wrong; the server does not start

Vendor and library exceptions are mapped into this tree at the boundary where they occur.
"""

from __future__ import annotations

from typing import Any


class CtiError(Exception):
    """Base of every error raised by the core."""


class ConfigError(CtiError):
    """The configuration is invalid; the message names the key."""


class ApiError(CtiError):
    """An error with an HTTP status and a stable snake_case code."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}

    def to_body(self) -> dict[str, Any]:
        """Return the error in the API's (docs/api.md) shape."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(ApiError):
    status = 400
    code = "invalid_input"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Gone(ApiError):
    status = 410
    code = "gone"


class Unprocessable(ApiError):
    status = 422
    code = "unprocessable"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Unavailable(ApiError):
    status = 503
    code = "unavailable"
