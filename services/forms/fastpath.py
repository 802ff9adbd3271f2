"""The forms service's fast path: submissions to a defined form handed to their handler directly.

A submission is the forms service's hot path, and bench/forms.py measures it against a bare
Litestar endpoint. Litestar's per-request routing, kwargs model, exception middleware and the
metrics middleware inside it cost about a sixth of a submission's CPU (measured in-process; see
docs/forms.md "Performance"). :class:`SubmissionFastPath` takes ``POST
/v1/forms/{form}/submissions`` of a defined form before routing and does what the routed path
does for it: it writes the scope keys Litestar's router writes
(:func:`frontdesk.litestar_compat.enter_route`), builds the route's request class, runs
:func:`services.forms.intake.submit_form` — the function the routed handler runs — and turns its
result into the ASGI answer with the route handler's own ``to_response``. An exception gets the
answer of the app's exception handlers (:func:`frontdesk.problems.exception_answer`), the request
is counted in the same metrics series, and multipart form data is closed as Litestar's route does.
``tests/service/test_forms_fastpath.py`` sends the same requests both ways and compares status,
headers, body and metrics.

Everything else goes the routed path unchanged: other methods (the CORS preflight, the staff list
on the same path), unknown forms (their 404), paths Litestar would normalise (a trailing slash), a
``root_path``, a Host header Litestar refuses.
"""

from __future__ import annotations

import time

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

from frontdesk.litestar_compat import close_form, enter_route, route_handler, valid_host
from frontdesk.metrics import RequestCounters, StatusNote
from frontdesk.problems import exception_answer
from services.forms.intake import submit_form
from services.forms.state import FormsState

_PREFIX = "/v1/forms/"
_SUFFIX = "/submissions"
TEMPLATE = f"{_PREFIX}{{form_id}}{_SUFFIX}"
"""The submission route's path template, as Litestar writes it in ``scope["path_template"]``."""


def submission_route(app: Litestar) -> tuple[HTTPRouteHandler, str]:
    """The ``POST`` handler of ``/v1/forms/{form_id}/submissions`` in ``app`` and its path template
    (as Litestar puts it in ``scope["path_template"]``); raises ``LookupError`` when it is missing.
    """
    return route_handler(app, TEMPLATE, "POST"), TEMPLATE


class SubmissionFastPath:
    """ASGI app: submissions to the forms of ``state`` answered through ``app``'s submission route
    handler without routing, counted in ``counters``; every other request goes to ``routed``.
    """

    def __init__(
        self, app: Litestar, state: FormsState, routed: ASGIApp, counters: RequestCounters
    ) -> None:
        self.app = app
        self.state = state
        self.routed = routed
        self.counters = counters
        self.handler, self.template = submission_route(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``scope`` when it is a submission to a defined form; else pass it on."""
        form_id = _form_id(scope) if scope["type"] == ScopeType.HTTP else None
        form = self.state.forms.get(form_id) if form_id is not None else None
        if form_id is None or form is None or self.app.before_send:
            await self.routed(scope, receive, send)
            return
        enter_route(scope, self.app, self.handler, self.template, {"form_id": form_id})
        request = self.handler.resolve_request_class()(scope=scope, receive=receive, send=send)
        noted = StatusNote(send)
        started = time.perf_counter()
        begun = self.counters.begin("POST", self.template)
        try:
            try:
                response = await submit_form(request, self.state, form)
                answer = await self.handler.to_response(self.app, response, request)
            except Exception as exc:  # the answer Litestar's exception middleware would give
                answer = exception_answer(request, exc).to_asgi_response(None, request)
            await answer(scope, receive, noted)
        finally:
            self.counters.end(
                begun, "POST", self.template, noted.status, time.perf_counter() - started
            )
            await close_form(scope)


def _form_id(scope: HTTPScope) -> str | None:
    """The form id of a submission request Litestar would route as it is, else ``None``."""
    path = scope["path"]
    if (
        scope["method"] != "POST"
        or not path.startswith(_PREFIX)
        or not path.endswith(_SUFFIX)
        or scope.get("root_path")
    ):
        return None
    form_id = path[len(_PREFIX) : -len(_SUFFIX)]
    if not form_id or "/" in form_id:
        return None
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    if host is not None and not valid_host(host):
        return None  # the router answers 400: its own check keeps the two in step
    return form_id
