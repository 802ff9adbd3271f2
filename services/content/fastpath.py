"""The content service's fast path: public reads of prepared bodies answered before routing.

Every public read — site, routes, pages, collections, the first page of each collection, items,
sitemap, assets — is a body encoded once per site build (see :mod:`services.content.snapshot`).
Without a query string its request path finds it in ``View.paths``, the table the route's read
function (:mod:`services.content.reads`) fills once per build. For such a request Litestar's
routing, parameter parsing and middleware stack cost more than the rest of the work
(bench/content.py measured the page GET at 0.69× a bare Litestar endpoint through them), so
:class:`ReadFastPath` answers it itself: the body the routed handler's read function gives, with
the same conditional answer (:func:`frontdesk.bodies.conditional_answer`), counted in the same
metrics, with the same request id and CORS headers (``tests/content/test_fastpath.py`` compares
the two paths). Everything else goes the routed path unchanged: preview requests, query strings,
redirects, unknown paths (404), health, metrics, schema, non-read methods and CORS preflights.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from frontdesk.bodies import conditional_answer
from frontdesk.metrics import RequestCounters
from frontdesk.requestid import HEADER as REQUEST_ID_HEADER
from frontdesk.requestid import given_or_new
from services.content.cors import ReadCors
from services.content.holder import SiteHolder

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

_READS = ("GET", "HEAD")


class ReadRequest:
    """The request headers a read depends on, in one pass over the ASGI scope's headers.

    Values are ``str`` (latin-1, as HTTP header bytes are) except ``origin`` and ``request_id``,
    which go back out as header bytes.
    """

    __slots__ = (
        "accept_encoding",
        "authorization",
        "if_modified_since",
        "if_none_match",
        "origin",
        "request_id",
    )

    def __init__(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        self.accept_encoding: str | None = None
        self.authorization: str | None = None
        self.if_modified_since: str | None = None
        self.if_none_match: str | None = None
        self.origin: bytes | None = None
        self.request_id: bytes | None = None
        for raw_name, value in headers:
            name = raw_name.lower()
            # List fields sent on several lines are one list (RFC 9110 §5.3); of a single-value
            # field the first line counts, as in the routed handlers.
            if name == b"accept-encoding":
                self.accept_encoding = _joined(self.accept_encoding, value)
            elif name == b"if-none-match":
                self.if_none_match = _joined(self.if_none_match, value)
            elif name == b"if-modified-since":
                self.if_modified_since = self.if_modified_since or value.decode("latin-1")
            elif name == b"authorization":
                self.authorization = self.authorization or value.decode("latin-1")
            elif name == b"origin":
                self.origin = self.origin or value
            elif name == REQUEST_ID_HEADER:
                self.request_id = self.request_id or value


def _joined(earlier: str | None, value: bytes) -> str:
    text = value.decode("latin-1")
    return text if earlier is None else f"{earlier}, {text}"


@dataclass(slots=True)
class ReadFastPath:
    """ASGI app answering public reads from ``holder``'s current snapshot, else calling ``routed``.

    ``cache_control`` is the ``Cache-Control`` value of public answers; ``counters`` the app's
    request metrics; ``preview`` whether preview tokens are configured (then any request with
    ``Authorization`` goes to the routed app, which checks the token).
    """

    holder: SiteHolder
    routed: ASGIApp
    cors: ReadCors
    cache_control: bytes
    counters: RequestCounters
    preview: bool

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Answer ``scope`` when it is a public read of a prepared body; else pass it on."""
        method = scope["method"]
        snapshot = self.holder.snapshot  # read once: the whole answer comes from this build
        if method not in _READS or scope["query_string"] or snapshot is None:
            await self.routed(scope, receive, send)
            return
        found = snapshot.public.paths.get(scope["path"])
        if found is None:
            await self.routed(scope, receive, send)
            return
        request = ReadRequest(scope["headers"])
        if self.preview and request.authorization is not None:
            await self.routed(scope, receive, send)
            return
        started = time.perf_counter()
        body, template = found
        status = 500  # what the client sees if anything below raises before answering
        begun = self.counters.begin(method, template)
        try:
            status, headers, data = conditional_answer(
                body,
                request.accept_encoding,
                request.if_none_match,
                request.if_modified_since,
                self.cache_control,
                self.cors.vary,
            )
            headers.append((REQUEST_ID_HEADER, given_or_new(request.request_id).encode()))
            headers += self.cors.headers(request.origin)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send(
                {
                    "type": "http.response.body",
                    "body": b"" if method == "HEAD" else data,
                    "more_body": False,
                }
            )
        finally:
            self.counters.end(begun, method, template, status, time.perf_counter() - started)
