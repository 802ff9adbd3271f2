"""The content service's Litestar app: ``create_app(settings)``.

Every body is built and encoded when the site loads (see :mod:`services.content.snapshot`); a GET
only picks bytes and compares validators. Routes are DESIGN.md's Content API.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import HttpMethod, Litestar, Request, Response, route
from litestar.datastructures import State
from litestar.params import FromPath, Parameter

from frontdesk.apidocs import openapi_config
from frontdesk.cursors import CursorError, decode_cursor
from frontdesk.entry import EntryApp
from frontdesk.internal import BareReady, NoStore, bare_ready, bare_ready_responses
from frontdesk.metrics import RequestCounters, prometheus
from frontdesk.problems import (
    ProblemError,
    empty_response,
    exception_handlers,
    problem_response,
    problem_responses,
)
from frontdesk.redirects import redirect_response, redirect_spec
from frontdesk.requestid import RequestIdMiddleware
from frontdesk.settings import Settings
from services.content import public
from services.content.bodies import Body, conditional_answer
from services.content.cors import ReadCors, ReadCorsMiddleware
from services.content.front import FrontDoor, ReadRequest
from services.content.holder import SiteHolder, running
from services.content.openapi import add_discriminators
from services.content.snapshot import DEFAULT_LIMIT, Snapshot, View

log = logging.getLogger("frontdesk.content")

CACHE_CONTROL = "public, max-age=60, stale-while-revalidate=600"
PREVIEW_CACHE_CONTROL = b"private, no-store"
MAX_LIMIT = 100

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


class Reader:
    """What one request reads: one snapshot's view and the ``Cache-Control`` it is sent with."""

    __slots__ = ("cache_control", "request", "snapshot", "vary", "view")

    def __init__(
        self,
        snapshot: Snapshot,
        view: View,
        request: ReadRequest,
        cache_control: bytes,
        vary: bytes,
    ) -> None:
        self.snapshot = snapshot
        self.view = view
        self.request = request
        self.cache_control = cache_control
        self.vary = vary

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


def _shown(text: str, limit: int = 100) -> str:
    """``text`` quoted for a problem's ``detail``, cut to ``limit`` characters: a request path can
    be 64 KiB long, and an answer should not echo it back whole.
    """
    return repr(text if len(text) <= limit else text[:limit] + "…")


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


@route(
    "/v1/site",
    http_method=GET_HEAD,
    summary="Site metadata, navigation and collections",
    responses=READ_RESPONSES,
)
async def get_site(request: AnyRequest) -> Response[public.SiteOut]:
    """``{name, base_url, default_region, navigation, collections}``."""
    reader = await Reader.open(request)
    return reader.send(reader.view.site)


@route(
    "/v1/routes",
    http_method=GET_HEAD,
    summary="Every published route with its ETag",
    responses=READ_RESPONSES,
)
async def get_routes(request: AnyRequest) -> Response[public.RoutesOut]:
    """``{items: [{path, type, etag}]}``: pages, collections, items, sitemap and assets."""
    reader = await Reader.open(request)
    return reader.send(reader.view.routes)


@route("/v1/pages", http_method=GET_HEAD, summary="Published pages", responses=READ_RESPONSES)
async def list_pages(request: AnyRequest) -> Response[public.PagesOut]:
    """``{items: [{slug, title, updated_at, etag}]}`` in slug order."""
    reader = await Reader.open(request)
    return reader.send(reader.view.pages_list)


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
    body = reader.view.pages.get(slug)
    if body is not None:
        return reader.send(body)
    target = reader.view.redirects.get(slug)
    if target is not None:
        redirect: Response[Any] = redirect_response(
            308, f"/v1/pages/{target}", {"Cache-Control": reader.cache_header()}
        )
        return redirect
    raise ProblemError(404, "page_not_found", f"No published page has the slug {_shown(slug)}.")


@route(
    "/v1/collections",
    http_method=GET_HEAD,
    summary="Collections with their published item counts",
    responses=READ_RESPONSES,
)
async def list_collections(request: AnyRequest) -> Response[public.CollectionsOut]:
    """``{items: [{name, kind, count}]}`` in ``site.yaml`` order."""
    reader = await Reader.open(request)
    return reader.send(reader.view.collections)


def _known_collection(reader: Reader, name: str) -> None:
    if name not in reader.view.lists:
        raise ProblemError(404, "collection_not_found", f"There is no collection {_shown(name)}.")


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise ProblemError(
            400,
            "invalid_limit",
            f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}.",
        )
    return value


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
    _known_collection(reader, name)
    size = _limit(limit)
    offset = 0
    if cursor is not None:
        try:
            offset = decode_cursor(cursor, tag)
        except CursorError as exc:
            raise ProblemError(400, "invalid_cursor", f"cursor: {exc}.") from None
    return reader.send(reader.view.items_page(name, tag, offset, size))


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
    _known_collection(reader, name)
    body = reader.view.items[name].get(slug)
    if body is None:
        raise ProblemError(
            404,
            "item_not_found",
            f"Collection {_shown(name)} has no published item {_shown(slug)}.",
        )
    return reader.send(body)


@route(
    "/v1/sitemap.xml",
    http_method=GET_HEAD,
    summary="sitemaps.org XML of the published pages",
    media_type="application/xml",
    responses=READ_RESPONSES,
)
async def sitemap(request: AnyRequest) -> Response[str]:
    """One ``<url>`` per published page at ``{base_url}/{slug}``, with ``<lastmod>``."""
    reader = await Reader.open(request)
    return reader.send(reader.view.sitemap)


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
    body = reader.snapshot.assets.get(path.lstrip("/"))
    if body is None:
        raise ProblemError(404, "asset_not_found", f"There is no asset {_shown(path.lstrip('/'))}.")
    return reader.send(body)


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


class ContentApp(EntryApp):
    """The content app: its :attr:`entry` (set by :func:`create_app`) is the :class:`FrontDoor`,
    which answers public reads of prepared bodies itself and passes the rest to :meth:`routed`.
    """

    @property
    def front(self) -> FrontDoor:
        """The front door (this app's entry)."""
        front = self.entry
        assert isinstance(front, FrontDoor)
        return front


def create_app(settings: Settings, holder: SiteHolder | None = None) -> ContentApp:
    """The content app; loads ``settings.site_dir`` unless ``holder`` already holds a site.

    A site that fails to load does not stop the app: it answers 503 and ``/health/ready`` lists
    the problems until a reload (file change or ``SIGHUP``) succeeds.
    """
    holder = holder or SiteHolder(settings)
    if holder.snapshot is None:
        holder.load()

    def lifespan(_: Litestar) -> AbstractAsyncContextManager[None]:
        return running(holder)

    cors = ReadCors(settings.content_cors_origins, preview=bool(settings.preview_tokens))
    cache_control = settings.content_cache_control.encode("latin-1")
    counters = RequestCounters("content")
    # The middleware counts this app's requests; /metrics itself is on the internal port.
    metrics_middleware, _ = prometheus("content", counters=counters)
    app = ContentApp(
        middleware=[metrics_middleware],
        logging_config=None,  # frontdesk.logging configures every process (JSON lines)
        route_handlers=[
            get_site,
            get_routes,
            list_pages,
            get_page,
            list_collections,
            list_items,
            get_item,
            sitemap,
            asset,
            live,
            public_ready,
        ],
        state=State(
            {
                "holder": holder,
                "settings": settings,
                "cache_control": cache_control,
                "cors": cors,
            }
        ),
        exception_handlers=exception_handlers(),
        lifespan=[lifespan],
        openapi_config=openapi_config(title="Frontdesk content API", version="1"),
        on_startup=[add_discriminators],
    )
    # Request ids and CORS wrap Litestar whole, so unrouted answers (404 of an unknown path) carry
    # them too; the front door adds the same headers to the answers it sends itself.
    app.entry = FrontDoor(
        holder,
        RequestIdMiddleware(ReadCorsMiddleware(app.routed, cors)),
        cors,
        cache_control,
        counters,
        preview=bool(settings.preview_tokens),
    )
    return app


def create_internal_app(settings: Settings, holder: SiteHolder) -> EntryApp:
    """The internal app over the public app's ``holder`` (same process): ``/health/live``,
    ``/health/ready`` with the site's problems, ``/metrics``; every answer ``no-store``, with
    ``X-Request-ID``. Served on ``FRONTDESK_CONTENT_INTERNAL_PORT`` (frontdesk/internal.py).
    """
    _, metrics = prometheus("content")
    app = EntryApp(
        route_handlers=[metrics, live, ready],
        logging_config=None,
        state=State({"holder": holder, "settings": settings}),
        exception_handlers=exception_handlers(),
        openapi_config=None,
    )
    app.entry = RequestIdMiddleware(NoStore(app.routed))
    return app


__all__ = [
    "CACHE_CONTROL",
    "AsyncIterator",
    "ContentApp",
    "Snapshot",
    "create_app",
    "create_internal_app",
]
