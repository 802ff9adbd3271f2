"""The staff inbox's Litestar app: ``create_app(settings)``.

One port (``FRONTDESK_INBOX_PORT``), staff-facing as a whole and never public: the HTML inbox
(services/inbox/pages.py), its static files (``/static``: its stylesheet and the vendored htmx),
the staff JSON API (bearer tokens; served here only),
``/health/live``, ``/health/ready`` and ``/metrics``.

Every answer carries ``Cache-Control: no-store`` (staff answers hold patient data), a strict CSP
(no inline script or style, no eval: htmx's indicator styles and eval are off by its meta
config), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (a sign-in link's
token must not leave in a Referer) and ``X-Frame-Options: DENY``; and ``X-Request-ID``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from litestar.datastructures import State
from litestar.static_files import create_static_files_router
from litestar.types import Receive, Scope, Send

from frontdesk.apidocs import openapi_config
from frontdesk.asgi import HttpMiddleware, editing_start
from frontdesk.fastpath import FastPathApp
from frontdesk.health import live, public_ready
from frontdesk.internal import NoStore
from frontdesk.metrics import RequestCounters, prometheus
from frontdesk.problems import exception_handlers
from frontdesk.requestid import RequestIdMiddleware
from frontdesk.settings import Settings
from frontdesk.submissions.access import open_access
from frontdesk.submissions.catalog import Catalog
from frontdesk.submissions.staff import staff_router
from services.inbox import accounts, admin, listing, pages, replies, workflow
from services.inbox.state import Clock, InboxState

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
STATIC = Path(__file__).parent / "static"


def _with_security_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` plus each of :data:`SECURITY_HEADERS` the answer does not set itself."""
    kept = list(headers)
    present = {name.lower() for name, _ in kept}
    return kept + [h for h in SECURITY_HEADERS if h[0] not in present]


class SecurityHeaders(HttpMiddleware):
    """ASGI middleware: :data:`SECURITY_HEADERS` on every HTTP answer, errors included, except
    a header the answer already has: the API viewers under ``/schema`` keep their own CSP
    (frontdesk/apidocs), which their inline bootstrap needs; the inbox's pages set none.
    """

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the answer's start."""
        await self.app(scope, receive, editing_start(send, _with_security_headers))


def create_app(
    settings: Settings, clock: Clock = time.time, catalog: Catalog | None = None
) -> FastPathApp:
    """Load the forms of ``settings.site_dir`` (unless ``catalog`` is given), connect to Redis and
    build the inbox app; ``clock`` (Unix seconds) decides link and session expiry and dates audit
    entries. Raises on a bad ``site.yaml``.
    """
    access = open_access(settings, catalog, clock=clock)
    state = InboxState(access, clock)
    metrics_middleware, metrics = prometheus("inbox", [], RequestCounters("inbox"))
    app = FastPathApp(
        route_handlers=[
            live,
            public_ready,
            metrics,
            *pages.ROUTES,
            *listing.ROUTES,
            *admin.ROUTES,
            *workflow.ROUTES,
            *accounts.ROUTES,
            *replies.ROUTES,
            create_static_files_router(path="/static", directories=[STATIC], name="static"),
            staff_router(access),
        ],
        middleware=[metrics_middleware],
        logging_config=None,
        state=State({"inbox": state, "redis_ping": access.store.redis.ping}),
        exception_handlers=exception_handlers(),
        on_shutdown=[access.redis.aclose],
        openapi_config=openapi_config(title="Frontdesk inbox staff API", version="1"),
    )
    app.fast_path = RequestIdMiddleware(SecurityHeaders(NoStore(app.routed)))
    return app
