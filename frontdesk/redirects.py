"""Redirect answers of both services, one shape everywhere.

Litestar gives every response with content-allowing status a ``Content-Type`` (``application/json``
by default), so an empty redirect would claim to be JSON. Instead a redirect carries what RFC 9110
§15.4 suggests for 3xx answers: a short hypertext note with a link to the ``Location`` target,
``text/html; charset=utf-8`` (a HEAD answer drops the body, keeping the headers).
"""

from __future__ import annotations

import html

from litestar import Response
from litestar.openapi import ResponseSpec

REDIRECT_MEDIA_TYPE = "text/html"


def redirect_response(
    status: int, location: str, headers: dict[str, str] | None = None
) -> Response[bytes]:
    """A ``status`` (301–308) answer to ``location`` (sent as is in ``Location``; escaped in the
    note's link) with ``headers`` added.
    """
    href = html.escape(location, quote=True)
    note = (
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>Redirecting</title></head>'
        f'<body><p><a href="{href}">{href}</a></p></body></html>\n'
    )
    return Response(
        content=note.encode(),
        status_code=status,
        media_type=REDIRECT_MEDIA_TYPE,
        headers={**(headers or {}), "Location": location},
    )


def redirect_spec(status: int, description: str) -> dict[int, ResponseSpec]:
    """OpenAPI ``responses`` entry for a :func:`redirect_response` (its note as ``text/html``)."""
    return {
        status: ResponseSpec(
            data_container=str,
            media_type=REDIRECT_MEDIA_TYPE,
            description=description,
            generate_examples=False,
        )
    }
