"""gunicorn's access log, with which API key made the request and nothing secret of it."""

from __future__ import annotations

import traceback
from typing import Any

from gunicorn.glogging import Logger

# The production line (gunicorn.conf.py): client, request line, status, bytes, milliseconds and
# the key's public prefix.
ACCESS_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms key=%(k)s'


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
    """Adds the atom %(k)s: key_prefix of the request's Authorization header, and writes the
    ACCESS_FORMAT line without gunicorn's atoms.

    gunicorn's atoms() makes an atom of every request header, response header and environ
    entry and formats the time, for every request: with it, the bench's floor served 889
    requests/s and single readings 372/s; with the access log off, 1,332/s and 430/s (wrk, 3
    sync workers, one run each). Any other format still goes through atoms().
    """

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        if self.cfg.access_log_format != ACCESS_FORMAT:
            super().access(resp, req, environ, request_time)
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        line = '%s "%s %s %s" %s %s %sms key=%s' % (  # noqa: UP031 (the one format, fast)
            environ.get("REMOTE_ADDR", "-"),
            environ["REQUEST_METHOD"],
            environ["RAW_URI"],
            environ["SERVER_PROTOCOL"],
            status,
            str(sent) if sent is not None else "-",
            request_time.seconds * 1000 + int(request_time.microseconds / 1000),
            key_prefix(environ.get("HTTP_AUTHORIZATION", "")),
        )
        try:
            self.access_log.info(line)  # no arguments: a % in the URL is not a format
        except Exception:
            self.error(traceback.format_exc())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["k"] = key_prefix(environ.get("HTTP_AUTHORIZATION", ""))
        return atoms
