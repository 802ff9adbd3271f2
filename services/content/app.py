"""The content service's Litestar app: ``create_app(settings)``.

Every body is built and encoded when the site loads; a GET only picks bytes and compares ETags.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath

from frontdesk.problems import ProblemError, exception_handlers, problem_responses
from frontdesk.settings import Settings
from services.content.bodies import Body, etag_matches
from services.content.build import Builder
from services.content.loader import Site, load_site
from services.content.public import PageOut

log = logging.getLogger("frontdesk.content")

CACHE_CONTROL = "public, max-age=60, stale-while-revalidate=600"


class Snapshot:
    """One build of the site: every public body, encoded. Swapped whole, so responses never mix."""

    def __init__(self, site: Site, settings: Settings, now: dt.datetime) -> None:
        builder = Builder(site, settings.forms_public_url, now)
        self.site = site
        self.built_at = now
        self.pages: dict[str, Body] = {}
        for slug in site.pages:
            page = builder.page(slug)
            if page is not None:
                self.pages[slug] = Body.of(page)


def _send(request: Request[Any, Any, State], body: Body, cache_control: str) -> Response[bytes]:
    data, etag, gzipped = body.select(request.headers.get("accept-encoding"))
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(content=b"", status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(content=data, media_type="application/json", headers=headers)


@get(
    "/v1/pages/{slug:str}",
    summary="A page with every section resolved",
    responses=problem_responses(400, 404),
)
async def get_page(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[PageOut]:
    """``{slug, title, seo, updated_at, sections}``; 404 problem+json for an unknown slug."""
    snapshot: Snapshot = request.app.state.snapshot
    body = snapshot.pages.get(slug)
    if body is None:
        raise ProblemError(404, "page_not_found", f"No published page has the slug {slug!r}.")
    return _send(request, body, CACHE_CONTROL)  # type: ignore[return-value]


@get("/health/live", summary="The process is up")
async def live() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process answers."""
    return {"status": "ok"}


def create_app(settings: Settings) -> Litestar:
    """Load ``settings.site_dir`` and build the app; raises ``SiteError`` when the site is bad."""
    site = load_site(settings.site_dir)
    snapshot = Snapshot(site, settings, dt.datetime.now(dt.UTC))
    return Litestar(
        route_handlers=[get_page, live],
        state=State({"snapshot": snapshot, "settings": settings}),
        exception_handlers=exception_handlers(),
        cors_config=CORSConfig(
            allow_origins=list(settings.content_cors_origins),
            allow_methods=["GET", "HEAD", "OPTIONS"],
            allow_headers=["If-None-Match", "Authorization"],
            expose_headers=["ETag"],
        ),
        openapi_config=OpenAPIConfig(title="Frontdesk content API", version="1"),
    )
