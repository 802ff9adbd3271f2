"""The forms service's internal app: ``create_internal_app(settings)``.

Served on ``FRONTDESK_INTERNAL_HOST:FRONTDESK_FORMS_INTERNAL_PORT`` in the same process as the public
app (frontdesk/internal.py): ``/health/live``, ``/health/ready`` with Redis's error,
``/health/workers``, ``/metrics`` and the staff API, with its own OpenAPI document at ``/schema``.
Every answer is ``Cache-Control: no-store`` and carries ``X-Request-ID``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio
from litestar.connection import ASGIConnection
from litestar.datastructures import State

from frontdesk.apidocs import openapi_config
from frontdesk.fastpath import FastPathApp
from frontdesk.internal import NoStore
from frontdesk.metrics import QueueCollector, RequestCounters, prometheus
from frontdesk.problems import exception_handlers
from frontdesk.requestid import RequestIdMiddleware
from frontdesk.settings import Settings
from frontdesk.staff_tokens import StaffToken
from frontdesk.submissions.catalog import Catalog
from frontdesk.submissions.definition import FormDefinition
from frontdesk.submissions.keys import MESSAGE_COUNTS
from frontdesk.submissions.staff import staff_router
from frontdesk.submissions.store import SubmissionStore
from services.forms.app import forms_state
from services.forms.health import health_workers, live, ready
from services.forms.state import FormsState
from services.forms.web import client_bucket, forwarded_for_lines


class FormsStaff:
    """The forms service's :class:`~frontdesk.submissions.staff.StaffContext`: its state's store,
    Redis client, forms and staff tokens, read through at every request, and the client bucket
    of its submissions' limits.
    """

    def __init__(self, state: FormsState) -> None:
        self._state = state

    @property
    def store(self) -> SubmissionStore:
        """The state's submission store."""
        return self._state.store

    @property
    def redis(self) -> redis.asyncio.Redis:
        """The state's asyncio Redis client."""
        return self._state.redis

    @property
    def forms(self) -> Mapping[str, FormDefinition]:
        """Every form with a definition, a broken file's last good one included: staff keep reading,
        exporting and erasing a form's submissions while an editor fixes its file.
        """
        return self._state.catalog.definitions

    @property
    def staff_tokens(self) -> Sequence[StaffToken]:
        """``FRONTDESK_STAFF_TOKENS`` of the settings."""
        return self._state.settings.staff_tokens

    def client_bucket(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        """The client behind trusted proxies, IPv6 by ``FRONTDESK_IPV6_PREFIX``: the bucket the
        submissions' limits count.
        """
        peer = connection.client.host if connection.client else None
        return client_bucket(
            peer,
            forwarded_for_lines(connection.headers),
            self._state.trusted_proxies,
            self._state.settings.ipv6_prefix,
        )


def create_internal_app(settings: Settings, catalog: Catalog | None = None) -> FastPathApp:
    """The internal app with its own :class:`~services.forms.state.FormsState` (the same Redis
    data as the public app's) over ``catalog``, the public app's forms (same process: the
    readiness answer names the forms the public app cannot serve), else forms loaded anew.
    """
    state = forms_state(settings, catalog)
    # Staff requests are counted in the service's series; health and metrics never are.
    metrics_middleware, metrics = prometheus(
        "forms",
        [QueueCollector(state.store.redis, settings.queue_name, MESSAGE_COUNTS)],
        RequestCounters("forms"),
    )
    app = FastPathApp(
        route_handlers=[live, ready, health_workers, metrics, staff_router(FormsStaff(state))],
        middleware=[metrics_middleware],
        logging_config=None,
        state=State({"forms": state}),
        exception_handlers=exception_handlers(),
        on_shutdown=[state.redis.aclose],
        openapi_config=openapi_config(title="Frontdesk forms internal API", version="1"),
    )
    app.fast_path = RequestIdMiddleware(NoStore(app.routed))
    return app
