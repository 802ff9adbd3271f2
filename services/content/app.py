"""The content service's Litestar app: ``create_app(settings)``, and the internal app.

Every body is built and encoded when the site loads (see :mod:`services.content.snapshot`); a GET
only picks bytes and compares validators. Public reads without a query string take the fast path
(services/content/fastpath.py); everything else the routed path (services/content/routes.py). Both
find their body with the read functions of services/content/reads.py. docs/api.md "Content
service" lists the routes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from litestar import Litestar
from litestar.datastructures import State

from frontdesk.apidocs import openapi_config
from frontdesk.fastpath import FastPathApp
from frontdesk.internal import NoStore
from frontdesk.metrics import RequestCounters, prometheus
from frontdesk.problems import exception_handlers
from frontdesk.requestid import RequestIdMiddleware
from frontdesk.settings import Settings
from services.content.cors import ReadCors, ReadCorsMiddleware
from services.content.fastpath import ReadFastPath
from services.content.holder import SiteHolder, running
from services.content.openapi import add_discriminators
from services.content.routes import (
    asset,
    get_item,
    get_page,
    get_routes,
    get_site,
    list_collections,
    list_items,
    list_pages,
    live,
    public_ready,
    ready,
    sitemap,
)
from services.content.snapshot import Snapshot

log = logging.getLogger("frontdesk.content")

CACHE_CONTROL = "public, max-age=60, stale-while-revalidate=600"


class ContentApp(FastPathApp):
    """The content app: its :attr:`fast_path` (set by :func:`create_app`) is a
    :class:`~services.content.fastpath.ReadFastPath`, which answers public reads of prepared bodies
    itself and passes the rest to :meth:`routed`.
    """


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
    # them too; the fast path adds the same headers to the answers it sends itself.
    app.fast_path = ReadFastPath(
        holder,
        RequestIdMiddleware(ReadCorsMiddleware(app.routed, cors)),
        cors,
        cache_control,
        counters,
        preview=bool(settings.preview_tokens),
    )
    return app


def create_internal_app(settings: Settings, holder: SiteHolder) -> FastPathApp:
    """The internal app over the public app's ``holder`` (same process): ``/health/live``,
    ``/health/ready`` with the site's problems, ``/metrics``; every answer ``no-store``, with
    ``X-Request-ID``. Served on ``FRONTDESK_CONTENT_INTERNAL_PORT`` (frontdesk/internal.py).
    """
    _, metrics = prometheus("content")
    app = FastPathApp(
        route_handlers=[metrics, live, ready],
        logging_config=None,
        state=State({"holder": holder, "settings": settings}),
        exception_handlers=exception_handlers(),
        openapi_config=None,
    )
    app.fast_path = RequestIdMiddleware(NoStore(app.routed))
    return app


__all__ = [
    "CACHE_CONTROL",
    "AsyncIterator",
    "ContentApp",
    "Snapshot",
    "create_app",
    "create_internal_app",
]
