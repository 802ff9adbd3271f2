"""The request id: taken from ``X-Request-ID`` when it is well formed, else a new one.

:class:`RequestIdMiddleware` is a plain ASGI middleware. It makes the id visible two ways: in the
context variable :data:`frontdesk.logging.REQUEST_ID` (log lines, and the forms service, which stores
it on the submission and in the job's ``meta``) and in the response's ``X-Request-ID`` header, so a
visitor's report can be matched to the lines.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from litestar.types import Receive, Scope, Send

from frontdesk.asgi import HttpMiddleware, editing_start
from frontdesk.logging import REQUEST_ID

HEADER = b"x-request-id"
# A proxy's id (UUIDs, AWS trace ids, hex) fits; anything else could smuggle text into the logs.
_VALID = re.compile(rb"[A-Za-z0-9._:=+/-]{1,128}")


def new_request_id() -> str:
    """A new request id: 32 random hex digits (128 bits from the OS's CSPRNG).

    The shape of ``uuid.uuid4().hex`` without building a ``UUID`` object, which cost several
    times the random bytes themselves on every request that brings no id of its own.
    """
    return secrets.token_hex(16)


def given_or_new(value: bytes | None) -> str:
    """``value`` (an ``X-Request-ID`` header's bytes) when it is well formed, else a new id
    (:func:`new_request_id`).
    """
    if value is not None and _VALID.fullmatch(value):
        return value.decode("ascii")
    return new_request_id()


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The well-formed ``X-Request-ID`` of ``headers`` (ASGI pairs), or ``None``."""
    for name, value in headers:
        if name.lower() == HEADER:
            return value.decode("ascii") if _VALID.fullmatch(value) else None
    return None


class RequestIdMiddleware(HttpMiddleware):
    """ASGI middleware: binds the request id for the request's duration (HTTP only)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with the id bound; add it to the response's headers."""
        # The scope's headers are left as they are (rewriting them makes Litestar parse them again,
        # a measured cost on every page view): handlers read the id from frontdesk.logging.REQUEST_ID.
        request_id = request_id_of(scope["headers"]) or new_request_id()
        header = (HEADER, request_id.encode("ascii"))

        def with_id(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
            return [*headers, header]

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, editing_start(send, with_id))
        finally:
            REQUEST_ID.reset(token)
