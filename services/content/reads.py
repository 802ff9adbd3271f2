"""The read of each content route: which prepared body of a build answers it, or which problem.

One function per public read route. Both request paths use them: the routed handlers
(services/content/routes.py) call them on every request, with the request's parameters; the fast
path (services/content/fastpath.py) answers from ``View.paths``, the table of every path without a
query string that :func:`fast_paths` builds with the same functions once per build. So for a
given path both paths send the same body by construction, and what differs between them is only
how a request reaches the body (Litestar's router, or one dict lookup).

The functions read a :class:`ReadableView` — :class:`services.content.snapshot.View` is one —
and raise :class:`~frontdesk.problems.ProblemError` (404, 400) or :class:`Moved` (a page's 308);
they never see the request itself: preview tokens, validators and encodings are the callers'.
"""

from __future__ import annotations

from typing import Protocol

from frontdesk.bodies import Body
from frontdesk.cursors import CursorError, decode_cursor
from frontdesk.problems import ProblemError

# Items per collection page when the request names no ``limit``, and the most it may name.
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class ReadableView(Protocol):
    """What the reads need of one audience's view of a build (bodies encoded once): the single
    bodies, pages and items by slug, redirects (slug → final slug), assets by path under
    ``assets/``, and the pages of a collection's list.
    """

    site: Body
    routes: Body
    pages_list: Body
    collections: Body
    sitemap: Body
    pages: dict[str, Body]
    redirects: dict[str, str]
    items: dict[str, dict[str, Body]]
    assets: dict[str, Body]

    def items_page(self, name: str, tag: str | None, offset: int, limit: int) -> Body:
        """One page of collection ``name`` (which must exist)."""
        ...


class Moved(Exception):
    """A page slug that redirects: ``target`` is the path the 308 names (``/v1/pages/<slug>``)."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def shown(text: str, limit: int = 100) -> str:
    """``text`` quoted for a problem's ``detail``, cut to ``limit`` characters: a request path can
    be 64 KiB long, and an answer should not echo it back whole.
    """
    return repr(text if len(text) <= limit else text[:limit] + "…")


def site(view: ReadableView) -> Body:
    """``GET /v1/site``: ``{name, base_url, default_region, navigation, collections}``."""
    return view.site


def routes(view: ReadableView) -> Body:
    """``GET /v1/routes``: ``{items: [{path, type, etag}]}``."""
    return view.routes


def pages(view: ReadableView) -> Body:
    """``GET /v1/pages``: ``{items: [{slug, title, updated_at, etag}]}`` in slug order."""
    return view.pages_list


def page(view: ReadableView, slug: str) -> Body:
    """``GET /v1/pages/{slug}``: the page; raises :class:`Moved` for a redirected slug, 404
    ``page_not_found`` for an unknown one.
    """
    body = view.pages.get(slug)
    if body is not None:
        return body
    target = view.redirects.get(slug)
    if target is not None:
        raise Moved(f"/v1/pages/{target}")
    raise ProblemError(404, "page_not_found", f"No published page has the slug {shown(slug)}.")


def collections(view: ReadableView) -> Body:
    """``GET /v1/collections``: ``{items: [{name, kind, count}]}`` in ``site.yaml`` order."""
    return view.collections


def items(
    view: ReadableView,
    name: str,
    limit: str | None = None,
    cursor: str | None = None,
    tag: str | None = None,
) -> Body:
    """``GET /v1/collections/{name}/items``: one page of the collection, ``limit`` (1 to
    :data:`MAX_LIMIT`, default :data:`DEFAULT_LIMIT`) items from ``cursor`` (a previous page's
    ``next_cursor``), only those tagged ``tag`` when given. Raises 404 ``collection_not_found``,
    400 ``invalid_limit`` or ``invalid_cursor``.
    """
    _known_collection(view, name)
    size = _limit(limit)
    offset = 0
    if cursor is not None:
        try:
            offset = decode_cursor(cursor, tag)
        except CursorError as exc:
            raise ProblemError(400, "invalid_cursor", f"cursor: {exc}.") from None
    return view.items_page(name, tag, offset, size)


def item(view: ReadableView, name: str, slug: str) -> Body:
    """``GET /v1/collections/{name}/items/{slug}``: the item; 404 ``collection_not_found`` or
    ``item_not_found``.
    """
    _known_collection(view, name)
    body = view.items[name].get(slug)
    if body is None:
        raise ProblemError(
            404,
            "item_not_found",
            f"Collection {shown(name)} has no published item {shown(slug)}.",
        )
    return body


def sitemap(view: ReadableView) -> Body:
    """``GET /v1/sitemap.xml``: one ``<url>`` per published page."""
    return view.sitemap


def asset(view: ReadableView, path: str) -> Body:
    """``GET /assets/{path}``: the file of ``assets/`` at ``path`` (a leading ``/`` ignored, as
    Litestar's path parameter carries one); 404 ``asset_not_found``.
    """
    name = path.lstrip("/")
    body = view.assets.get(name)
    if body is None:
        raise ProblemError(404, "asset_not_found", f"There is no asset {shown(name)}.")
    return body


def fast_paths(view: ReadableView) -> dict[str, tuple[Body, str]]:
    """Every request path the reads answer without a query string, with its body and the route
    template the request is counted under in the metrics: the fast path's table.
    """
    table = {
        "/v1/site": (site(view), "/v1/site"),
        "/v1/routes": (routes(view), "/v1/routes"),
        "/v1/pages": (pages(view), "/v1/pages"),
        "/v1/collections": (collections(view), "/v1/collections"),
        "/v1/sitemap.xml": (sitemap(view), "/v1/sitemap.xml"),
    }
    for slug in view.pages:
        table[f"/v1/pages/{slug}"] = (page(view, slug), "/v1/pages/{slug}")
    for name, bodies in view.items.items():
        table[f"/v1/collections/{name}/items"] = (items(view, name), "/v1/collections/{name}/items")
        for slug in bodies:
            table[f"/v1/collections/{name}/items/{slug}"] = (
                item(view, name, slug),
                "/v1/collections/{name}/items/{slug}",
            )
    for path in view.assets:
        table[f"/assets/{path}"] = (asset(view, path), "/assets/{path}")
    return table


def _known_collection(view: ReadableView, name: str) -> None:
    if name not in view.items:
        raise ProblemError(404, "collection_not_found", f"There is no collection {shown(name)}.")


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
