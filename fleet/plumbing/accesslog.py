"""gunicorn's access log, with which API key made the request and nothing secret of it."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger


def key_prefix(authorization: str) -> str:
    """The public prefix of an `Api-Key <prefix>.<secret>` header (what the admin lists keys
    by), or "-". Never any of the secret, and nothing of any other scheme (a bearer token is
    all secret)."""
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.casefold() != "api-key":
        return "-"
    prefix, dot, _ = credentials.strip().partition(".")
    return prefix if dot and prefix.isalnum() and len(prefix) <= 16 else "-"


class AccessLogger(Logger):
    """Adds the atom %(k)s: key_prefix of the request's Authorization header."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["k"] = key_prefix(environ.get("HTTP_AUTHORIZATION", ""))
        return atoms
