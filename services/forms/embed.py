"""``GET /embed/frontdesk.js``: the embed script, read and gzipped once when the app is built.

The script's source is ``services/forms/static/frontdesk.js``. Its version is a digest of the bytes:
``/embed/frontdesk.js?v=<version>`` is cached for a year (``immutable``); the bare URL, or a stale
version, for five minutes, and names the current versioned URL in ``Content-Location``. Both answer
``If-None-Match`` with 304 (RFC 9110 §13.1.2) and can be read from any origin.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromQuery

from frontdesk.bodies import Body, etag_matches
from frontdesk.problems import empty_response, problem_responses

SCRIPT_PATH = Path(__file__).resolve().parent / "static" / "frontdesk.js"
LONG_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "public, max-age=300"
# Litestar appends "; charset=utf-8" to every text/* media type itself (a charset given here came
# out twice): the header reads "text/javascript; charset=utf-8".
MEDIA_TYPE = "text/javascript"


def static_body(data: bytes, tag: str) -> Body:
    """``data`` as served: identity and gzip (level 9), with the ETags ``"<tag>"`` and
    ``"<tag>-gz"``. mtime=0 keeps the gzip bytes, and so their ETag, stable across restarts and
    replicas.
    """
    return Body(data, f'"{tag}"', gzip.compress(data, 9, mtime=0), f'"{tag}-gz"')


class EmbedScript(msgspec.Struct, frozen=True):
    """The script's bytes in identity and gzip encodings, their ETags, and ``version`` (hex digest)."""

    body: Body
    version: str

    @classmethod
    def load(cls, path: Path = SCRIPT_PATH) -> EmbedScript:
        """Read ``path``; raises ``OSError`` when it is missing."""
        data = path.read_bytes()
        digest = hashlib.blake2b(data, digest_size=8).hexdigest()
        return cls(body=static_body(data, digest), version=digest)

    @property
    def url(self) -> str:
        """The versioned path, cacheable for a year."""
        return f"/embed/frontdesk.js?v={self.version}"


def embed_script_handler(script: EmbedScript) -> HTTPRouteHandler:
    """The route handler serving ``script`` (built per app, so no module-level state)."""

    @get(
        "/embed/frontdesk.js",
        summary="The embed script for plain and Webflow forms",
        include_in_schema=True,
        media_type=MEDIA_TYPE,
        responses={
            **problem_responses(400),
            **empty_response(304, "Not Modified: If-None-Match matched"),
        },
    )
    async def frontdesk_js(
        request: Request[Any, Any, State], v: FromQuery[str | None] = None
    ) -> Response[bytes]:
        """The script; ``v`` equal to the current version makes it cacheable for a year."""
        if v == script.version:
            return script_response(request, script.body, LONG_CACHE)
        return script_response(request, script.body, SHORT_CACHE, {"Content-Location": script.url})

    return frontdesk_js


def script_response(
    request: Request[Any, Any, State],
    body: Body,
    cache_control: str,
    extra: dict[str, str] | None = None,
) -> Response[bytes]:
    """A served script: gzip when accepted, its ETag (304 on ``If-None-Match``), ``cache_control``,
    readable from any origin, never sniffed; ``extra`` headers added.
    """
    data, etag, gzipped = body.select(request.headers.get("accept-encoding"))
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control,
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
        **(extra or {}),
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(content=b"", status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(content=data, media_type=MEDIA_TYPE, headers=headers)
