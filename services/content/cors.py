"""CORS for the content service's reads (Fetch standard, "CORS protocol").

The content API is read-only and needs no credentials, so the rules are few: ``*`` (the default)
answers ``Access-Control-Allow-Origin: *`` to every request; a list of origins echoes an origin on
the list and says nothing to any other. With a list, every answer depends on ``Origin``, so every
answer says ``Vary: Origin`` — on top of ``Accept-Encoding`` (gzip bodies) and, with preview tokens,
``Authorization`` — or a shared cache could hand one origin's answer to another. (Litestar's
``CORSConfig`` replaced the ``Vary`` header with ``Vary: Origin``, losing ``Accept-Encoding``: a
shared cache could then send gzip bytes to a client that never asked for them. Hence this module.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from frontdesk.asgi import HttpMiddleware, editing_start

Headers = list[tuple[bytes, bytes]]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

ALLOW_METHODS = b"GET, HEAD, OPTIONS"
# The request headers a frontend may send: validators, the preview token and its own request id.
ALLOW_HEADERS = b"Authorization, If-Modified-Since, If-None-Match, X-Request-ID"
# What a script may read beyond the CORS-safelisted response headers.
EXPOSE_HEADERS = b"ETag, Last-Modified, X-Request-ID"
PREFLIGHT_MAX_AGE = b"600"


class ReadCors:
    """The CORS answer headers for ``origins`` (``("*",)`` or exact origins such as
    ``https://clinic.example``), and the ``Vary`` value of every read.
    """

    __slots__ = ("_allowed", "_any", "vary")

    def __init__(self, origins: Iterable[str], preview: bool) -> None:
        origins = tuple(origins)
        self._any = "*" in origins
        self._allowed = frozenset(o.rstrip("/").encode("latin-1") for o in origins if o != "*")
        vary = ["Accept-Encoding"]
        if preview:  # preview answers differ by Authorization: caches must key on it then
            vary.append("Authorization")
        if not self._any:
            vary.append("Origin")
        self.vary = ", ".join(vary).encode()
        """``Vary`` of every content answer, e.g. ``b"Accept-Encoding, Origin"``."""

    def headers(self, origin: bytes | None) -> Headers:
        """The headers to add to an answer for a request with ``Origin: origin`` (``None``: none).

        ``*`` allows every origin, with or without the header; a listed origin is echoed; any
        other origin gets nothing, so the browser withholds the answer from its script.
        """
        if self._any:
            return [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", EXPOSE_HEADERS),
            ]
        if origin is not None and origin in self._allowed:
            return [
                (b"access-control-allow-origin", origin),
                (b"access-control-expose-headers", EXPOSE_HEADERS),
            ]
        return []

    def preflight(self, origin: bytes) -> Headers:
        """The headers of a ``204`` preflight answer (``OPTIONS`` with ``Origin`` and
        ``Access-Control-Request-Method``): allow the read methods and headers to an allowed
        origin, nothing to another (the browser then refuses the real request).
        """
        headers: Headers = []
        if not self._any:
            headers.append((b"vary", b"Origin"))
        if not self._any and origin not in self._allowed:
            return headers
        headers += [
            (b"access-control-allow-origin", b"*" if self._any else origin),
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE),
        ]
        return headers


class ReadCorsMiddleware(HttpMiddleware):
    """ASGI middleware applying ``cors`` to every HTTP answer of ``app``: it answers CORS
    preflights itself (``204``) and adds the CORS headers, and the reads' ``Vary`` where the answer
    has none of its own (problems, redirects: they too differ by origin and preview token), to the
    rest.
    """

    def __init__(self, app: ASGIApp, cors: ReadCors) -> None:
        super().__init__(app)
        self.cors = cors

    async def http(self, scope: Any, receive: Any, send: Any) -> None:
        """Answer a preflight, or pass the request on with the CORS headers added."""
        origin, preflight = _origin_and_preflight(scope)
        if preflight and origin is not None:
            headers = self.cors.preflight(origin)
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        extra = self.cors.headers(origin)
        vary = self.cors.vary

        def with_cors(given: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
            headers = [*given, *extra]
            if not any(name.lower() == b"vary" for name, _ in headers):
                headers.append((b"vary", vary))
            return headers

        await self.app(scope, receive, editing_start(send, with_cors))


def _origin_and_preflight(scope: Any) -> tuple[bytes | None, bool]:
    """The request's ``Origin`` and whether it is a CORS preflight (``OPTIONS`` carrying
    ``Access-Control-Request-Method``).
    """
    origin = None
    requests_method = False
    for raw_name, value in scope["headers"]:
        name = raw_name.lower()
        if name == b"origin" and origin is None:
            origin = value
        elif name == b"access-control-request-method":
            requests_method = True
    return origin, requests_method and scope["method"] == "OPTIONS"
