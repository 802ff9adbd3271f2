"""Every use this project makes of Litestar's internals, in one module.

Litestar's public API has no way to run one route handler without its router, and the forms
service's fast path (services/forms/fastpath.py) does just that for submissions. So it leans on
three things Litestar does not document: the scope keys its app and router write before a handler
runs (``app``, ``litestar_app``, ``state``, ``route_handler``, ``path_template``,
``path_params``), the parsed form data it keeps in its scope state (``ScopeState.form``, which the
route closes after the handler), and the router's check of the ``Host`` header
(``litestar._asgi.utils.is_valid_host``). The metrics and the 500 log line read
``path_template`` too.

Nothing else in the project imports ``litestar._*`` or ``litestar.utils.scope``, nor writes those
keys (a test walks every module's imports). ``tests/unit/test_litestar_compat.py`` pins what each
function relies on against Litestar's own routing, so an upgrade that changes it fails there.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar._asgi.utils import is_valid_host
from litestar.datastructures.multi_dicts import FormMultiDict
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.types import Method, Scope
from litestar.types.empty import Empty
from litestar.utils.scope.state import ScopeState


def valid_host(host: bytes) -> bool:
    """Whether Litestar's router takes ``host`` (a ``Host`` header's bytes); it answers 400 to
    any other before routing.
    """
    return is_valid_host(host)


def route_handler(app: Litestar, path_format: str, method: Method) -> HTTPRouteHandler:
    """The ``method`` handler of the route ``path_format`` of ``app`` (the template as Litestar
    writes it, ``/v1/forms/{form_id}/submissions``); raises ``LookupError`` when there is none.
    """
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path_format == path_format:
            handlers = route.route_handler_map.get(method)
            if handlers is not None:
                return handlers[0]
    raise LookupError(f"the app has no {method} {path_format} route")


def enter_route(
    scope: Any,
    app: Litestar,
    handler: HTTPRouteHandler,
    path_format: str,
    path_params: dict[str, Any],
) -> None:
    """Write into ``scope`` what Litestar's app and router write before ``handler`` runs for a
    request matching ``path_format`` with ``path_params``: a request built on the scope then reads
    its app, handler (whose ``request_max_body_size`` the body read obeys) and parameters.
    """
    scope["app"] = scope["litestar_app"] = app
    scope.setdefault("state", {})
    scope["route_handler"] = handler
    scope["path_template"] = path_format
    scope["path_params"] = path_params


def path_template(scope: Scope | Any) -> str | None:
    """The template of the route that took the request (``/v1/pages/{slug}``), ``None`` before
    routing or when no route matched.
    """
    template: str | None = scope.get("path_template")
    return template


async def close_form(scope: Any) -> None:
    """Close the uploaded files of the form data a request parsed, as Litestar's route does after
    its handler; nothing when the request parsed none.
    """
    form = ScopeState.from_scope(scope).form
    if form is not Empty:
        await FormMultiDict.from_form_data(form).close()
