"""Domain errors (no HTTP inside) and the one place that maps them to responses.

Messages are gettext message ids with ``%(name)s`` placeholders; each surface
translates them for its reader (HTML in the user's language, JSON in English).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base for errors a user can act on."""

    code = "error"

    def __init__(self, message: str, /, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params

    @property
    def text(self) -> str:
        return self.message % self.params if self.params else self.message


class NotAuthenticated(DomainError):
    code = "not_authenticated"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """A stale version, a duplicate or an illegal state change."""

    code = "conflict"

    def __init__(self, message: str, /, *, current: Any = None, **params: Any) -> None:
        super().__init__(message, **params)
        self.current = current


class InvalidInput(DomainError):
    """Input that parsed but breaks a rule; ``errors`` names each field."""

    code = "invalid"

    def __init__(self, message: str, /, *, errors: dict[str, str] | None = None, **params: Any):
        super().__init__(message, **params)
        self.errors = errors or {}


class TooManyAttempts(DomainError):
    code = "too_many_attempts"


class TooLarge(DomainError):
    """A request, upload or field larger than its configured limit."""

    code = "too_large"


STATUS_BY_ERROR: dict[type[DomainError], int] = {
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    TooManyAttempts: 429,
    TooLarge: 413,
}


def status_for(error: DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400
