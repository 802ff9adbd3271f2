"""The forms service's internal app: ``create_internal_app(settings)``.

Served on ``FRONTDESK_INTERNAL_HOST:FRONTDESK_FORMS_INTERNAL_PORT`` in the same process as the public
app (frontdesk/internal.py): ``/health/live``, ``/health/ready`` with Redis's error,
``/health/workers`` and ``/metrics``, with its own OpenAPI document at ``/schema``. The staff JSON
API is not here: the inbox serves it (services/inbox/app.py), on the one port staff reach. Every
answer is ``Cache-Control: no-store`` and carries ``X-Request-ID``.
"""

from __future__ import annotations

from litestar.datastructures import State

from frontdesk.apidocs import openapi_config
from frontdesk.fastpath import FastPathApp
from frontdesk.health import live
from frontdesk.internal import NoStore
from frontdesk.metrics import QueueCollector, RequestCounters, prometheus
from frontdesk.problems import exception_handlers
from frontdesk.requestid import RequestIdMiddleware
from frontdesk.settings import Settings
from frontdesk.submissions.catalog import Catalog
from frontdesk.submissions.keys import MESSAGE_COUNTS
from services.forms.app import forms_state
from services.forms.health import health_workers, ready


def create_internal_app(settings: Settings, catalog: Catalog | None = None) -> FastPathApp:
    """The internal app with its own :class:`~services.forms.state.FormsState` (the same Redis
    data as the public app's) over ``catalog``, the public app's forms (same process: the
    readiness answer names the forms the public app cannot serve), else forms loaded anew.
    """
    state = forms_state(settings, catalog)
    # Health and metrics requests are never counted in the service's series.
    metrics_middleware, metrics = prometheus(
        "forms",
        [QueueCollector(state.store.redis, settings.queue_name, MESSAGE_COUNTS)],
        RequestCounters("forms"),
    )
    app = FastPathApp(
        route_handlers=[
            live,
            ready,
            health_workers,
            metrics,
        ],
        middleware=[metrics_middleware],
        logging_config=None,
        state=State({"forms": state}),
        exception_handlers=exception_handlers(),
        on_shutdown=[state.redis.aclose],
        openapi_config=openapi_config(title="Frontdesk forms internal API", version="1"),
    )
    app.fast_path = RequestIdMiddleware(NoStore(app.routed))
    return app
