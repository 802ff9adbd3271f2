"""The content service's routed path: its Litestar route handlers.

Each read handler opens a :class:`Reader` (503 while no site has loaded; 401 for a wrong preview
token; the preview view for a valid one), calls its route's read function
(:mod:`services.content.reads`, the same the fast path's table is built with) and answers with the
prepared body. Public reads without a query string rarely come here: the fast path
(services/content/fastpath.py) answers them first; queries, previews, redirects, unknown paths
and health do.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import HttpMethod, MediaType, Request, Response, route
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, Parameter

from frontdesk.bodies import Body, conditional_answer
from frontdesk.internal import BareReady, bare_ready, bare_ready_responses
from frontdesk.problems import (
    ProblemError,
    empty_response,
    problem_response,
    problem_responses,
)
from frontdesk.redirects import redirect_response, redirect_spec
from frontdesk.settings import Settings
from services.content import public, reads
from services.content.fastpath import ReadRequest
from services.content.holder import SiteHolder
from services.content.reads import DEFAULT_LIMIT, MAX_LIMIT
from services.content.snapshot import Snapshot, View

PREVIEW_CACHE_CONTROL = b"private, no-store"

AnyRequest = Request[Any, Any, State]
# Every read answers HEAD too (link checkers, CDNs): same headers, no body (RFC 9110 §9.3.2).
GET_HEAD = [HttpMethod.GET, HttpMethod.HEAD]
# What every read can answer besides 200: 304 (its validators match), 401 (a wrong preview token,
# when preview tokens are configured), 503 (no site has loaded yet); routes add their own.
READ_RESPONSES = {
    **problem_responses(401, 503),
    **empty_response(304, "Not Modified: If-None-Match or If-Modified-Since matched"),
}
# Routes with parameters: 400 when Litestar cannot read one, or the route refuses its value.
PARAM_READ_RESPONSES = {**READ_RESPONSES, **problem_responses(400)}


class _Prepared:
    """A ready ASGI response: status, raw header pairs and body, sent as two messages.

    Litestar's ``Response`` re-validates and re-encodes headers per request; the content bodies are
    ready bytes, so this skips that work (a fresh header list per call: middleware may mutate it).
    """

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        body = b"" if scope["method"] == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body, "more_body": False})


class Prepared(Response[Any]):
    """A handler's return value that Litestar passes through as the :class:`_Prepared` ASGI app."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        # Response.__init__ is skipped on purpose: nothing of it is used.
        self._prepared = _Prepared(status, headers, body)

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        """The prepared ASGI app; Litestar's arguments (no handler-level headers here) are unused."""
        return self._prepared


@dataclass(slots=True)
class Reader:
    """What one request reads: one snapshot's view and the ``Cache-Control`` it is sent with."""

    snapshot: Snapshot
    view: View
    request: ReadRequest
    cache_control: bytes
    vary: bytes

    @classmethod
    async def open(cls, request: AnyRequest) -> Reader:
        """A reader for ``request``: 503 while no site has loaded, 401 for a wrong preview token.

        The first preview request of a build builds the preview view in a worker thread, so the
        event loop keeps serving meanwhile.
        """
        state = request.app.state
        holder: SiteHolder = state.holder
        snapshot = holder.snapshot  # read once: the whole response comes from this build
        if snapshot is None:
            raise ProblemError(
                503,
                "site_unavailable",
                "No site has loaded yet; see /health/ready for the problems.",
                headers={"Retry-After": "5"},
            )
        found = ReadRequest(request.scope["headers"])
        settings: Settings = state.settings
        vary = state.cors.vary
        if not _is_preview(found.authorization, settings.preview_tokens):
            return cls(snapshot, snapshot.public, found, state.cache_control, vary)
        if snapshot.has_preview:
            view = snapshot.view(True)
        else:
            view = await anyio.to_thread.run_sync(snapshot.view, True)
        return cls(snapshot, view, found, PREVIEW_CACHE_CONTROL, vary)

    def send(self, body: Body) -> Response[Any]:
        """200 with the body in the client's encoding, or 304 when its validators match
        (see :func:`~services.content.bodies.conditional_answer`).
        """
        found = self.request
        status, headers, data = conditional_answer(
            body,
            found.accept_encoding,
            found.if_none_match,
            found.if_modified_since,
            self.cache_control,
            self.vary,
        )
        return Prepared(status, headers, data)

    def cache_header(self) -> str:
        """The ``Cache-Control`` value of this request, as text."""
        return self.cache_control.decode()


def _is_preview(header: str | None, tokens: tuple[str, ...]) -> bool:
    """True for a valid preview bearer token (RFC 6750); a wrong one is a 401, never the public
    view, so an editor notices. Without configured tokens ``Authorization`` is ignored.
    """
    if not tokens or header is None:
        return False
    scheme, _, token = header.strip().partition(" ")
    given = token.strip().encode()
    valid = scheme.lower() == "bearer" and any(
        hmac.compare_digest(given, known.encode()) for known in tokens
    )
    if not valid:
        raise ProblemError(
            401,
            "invalid_token",
            "The preview token is not valid.",
            headers={"WWW-Authenticate": 'Bearer realm="preview", error="invalid_token"'},
        )
    return True


def _plain_read(
    name: str,
    path: str,
    read: Callable[[View], Body],
    returns: Any,
    summary: str,
    description: str,
    media_type: str = MediaType.JSON,
) -> HTTPRouteHandler:
    """The handler ``name`` of a read without parameters: ``GET``/``HEAD`` ``path`` answers
    ``read`` of the request's view (:meth:`Reader.send`); ``name`` (the operation id),
    ``returns`` (its ``Response[...]`` type) and ``description`` are what the OpenAPI document
    shows.
    """

    async def handler(request: AnyRequest) -> Response[Any]:
        reader = await Reader.open(request)
        return reader.send(read(reader.view))

    # Litestar reads the response schema from the return annotation and the description from
    # the docstring, as for a handler written out.
    handler.__annotations__ = {"request": AnyRequest, "return": returns}
    handler.__doc__ = description
    handler.__name__ = handler.__qualname__ = name
    return route(
        path, http_method=GET_HEAD, summary=summary, responses=READ_RESPONSES, media_type=media_type
    )(handler)


get_site = _plain_read(
    "get_site",
    "/v1/site",
    reads.site,
    Response[public.SiteOut],
    "Site metadata, navigation and collections",
    "``{name, base_url, default_region, navigation, collections}``.",
)


get_routes = _plain_read(
    "get_routes",
    "/v1/routes",
    reads.routes,
    Response[public.RoutesOut],
    "Every published route with its ETag",
    "``{items: [{path, type, etag}]}``: pages, collections, items, sitemap and assets.",
)


list_pages = _plain_read(
    "list_pages",
    "/v1/pages",
    reads.pages,
    Response[public.PagesOut],
    "Published pages",
    "``{items: [{slug, title, updated_at, etag}]}`` in slug order.",
)


@route(
    "/v1/pages/{slug:str}",
    http_method=GET_HEAD,
    summary="A page with every section resolved",
    responses={
        **PARAM_READ_RESPONSES,
        **problem_responses(404),
        **redirect_spec(308, "Permanent Redirect: the page's new slug is in Location"),
    },
)
async def get_page(request: AnyRequest, slug: FromPath[str]) -> Response[public.PageOut]:
    """``{slug, title, seo, updated_at, sections}``; 308 to the new slug for a redirected one;
    404 problem+json for an unknown slug.
    """
    reader = await Reader.open(request)
    try:
        body = reads.page(reader.view, slug)
    except reads.Moved as moved:
        redirect: Response[Any] = redirect_response(
            308, moved.target, {"Cache-Control": reader.cache_header()}
        )
        return redirect
    return reader.send(body)


list_collections = _plain_read(
    "list_collections",
    "/v1/collections",
    reads.collections,
    Response[public.CollectionsOut],
    "Collections with their published item counts",
    "``{items: [{name, kind, count}]}`` in ``site.yaml`` order.",
)


@route(
    "/v1/collections/{name:str}/items",
    http_method=GET_HEAD,
    summary="A page of a collection's published items",
    responses={**PARAM_READ_RESPONSES, **problem_responses(404)},
)
async def list_items(
    request: AnyRequest,
    name: FromPath[str],
    limit: Annotated[
        str | None, Parameter(description=f"1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}")
    ] = None,
    cursor: Annotated[
        str | None, Parameter(description="opaque: the previous page's next_cursor")
    ] = None,
    tag: Annotated[str | None, Parameter(description="only items with this tag")] = None,
) -> Response[public.ItemsPageOut]:
    """``{items, total, next_cursor, state, empty_state}``; 404 for an unknown collection,
    400 ``invalid_limit`` / ``invalid_cursor``.
    """
    reader = await Reader.open(request)
    return reader.send(reads.items(reader.view, name, limit, cursor, tag))


@route(
    "/v1/collections/{name:str}/items/{slug:str}",
    http_method=GET_HEAD,
    summary="One published item",
    responses={**PARAM_READ_RESPONSES, **problem_responses(404)},
)
async def get_item(
    request: AnyRequest, name: FromPath[str], slug: FromPath[str]
) -> Response[public.ItemOut]:
    """The item with its ``kind``; 404 for an unknown collection or item."""
    reader = await Reader.open(request)
    return reader.send(reads.item(reader.view, name, slug))


sitemap = _plain_read(
    "sitemap",
    "/v1/sitemap.xml",
    reads.sitemap,
    Response[str],
    "sitemaps.org XML of the published pages",
    "One ``<url>`` per published page at ``{base_url}/{slug}``, with ``<lastmod>``.",
    media_type="application/xml",
)


@route(
    "/assets/{path:path}",
    http_method=GET_HEAD,
    summary="A file of the site's assets/ folder",
    # Any media type: each file is sent with its own (by its suffix).
    media_type="*/*",
    responses={**PARAM_READ_RESPONSES, **problem_responses(404)},
)
async def asset(request: AnyRequest, path: FromPath[str]) -> Response[bytes]:
    """The file's bytes with its media type and ETag; 404 for anything not in ``assets/``."""
    reader = await Reader.open(request)
    return reader.send(reads.asset(reader.view, path))


@route("/health/live", http_method=GET_HEAD, summary="The process is up")
async def live() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process answers."""
    return {"status": "ok"}


class ReadyOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``ok``, or ``degraded`` (the last good site is served; ``errors`` say why a reload failed)."""

    status: str
    errors: list[dict[str, str]] = []


@route(
    "/health/ready",
    http_method=GET_HEAD,
    summary="A site is loaded and served",
    responses=bare_ready_responses("No site has loaded yet"),
)
async def public_ready(request: AnyRequest) -> Response[BareReady]:
    """200 ``{"status": "ok"}`` while a site is served (the last good one too), else 503
    ``{"status": "unavailable"}``; the problems of a site directory are on the internal port only.
    """
    holder: SiteHolder = request.app.state.holder
    return bare_ready(holder.snapshot is not None)


@route(
    "/health/ready",
    http_method=GET_HEAD,
    summary="A site is loaded and served",
    responses=problem_responses(503),
)
async def ready(request: AnyRequest) -> Response[ReadyOut]:
    """Internal port: 200 ``{"status": "ok"}``; 200 ``{"status": "degraded", "errors": [...]}``
    while the last good site is served after a failed reload; 503 problem+json with the problems
    while no site has ever loaded.
    """
    holder: SiteHolder = request.app.state.holder
    errors = [msgspec.structs.asdict(p) for p in holder.errors]
    if holder.snapshot is None:
        unavailable: Response[Any] = problem_response(
            503, "site_unavailable", "No site has loaded yet.", errors=errors
        )
        return unavailable
    status = "degraded" if errors else "ok"
    return Response(ReadyOut(status=status, errors=errors), headers={"Cache-Control": "no-store"})
