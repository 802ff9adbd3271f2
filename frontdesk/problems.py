"""RFC 9457 problem details: the one error shape of both services.

:class:`ProblemError` is raised by handlers; :func:`exception_handlers` turns it, Litestar's own
``HTTPException`` and any unhandled exception into ``application/problem+json`` responses.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from frontdesk.litestar_compat import path_template

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://frontdesk.dev/problems/"

log = logging.getLogger("frontdesk.problems")

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Problem(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details as both services send them, for the OpenAPI documents.

    ``type`` is ``https://frontdesk.dev/problems/<code>``; responses may carry further members
    (``errors``, ``message``), which RFC 9457 §3.2 allows.
    """

    type: str
    title: str
    status: int
    detail: str
    code: str


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI ``responses`` for a route handler: each status as ``application/problem+json``.

    Every status a handler can answer must be listed, so clients (and the schemathesis fuzzing in
    ``tests/fuzz``) can rely on the document: ``@get(..., responses=problem_responses(404))``.
    """
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_MEDIA_TYPE,
            description=_TITLES.get(status, "Error"),
            generate_examples=False,
        )
        for status in statuses
    }


def empty_response(status: int, description: str) -> dict[int, ResponseSpec]:
    """OpenAPI ``responses`` entry for an answer without content (304; redirects carry a note,
    see :func:`frontdesk.redirects.redirect_spec`): merge it with :func:`problem_responses`, e.g.
    ``{**problem_responses(404), **empty_response(304, "...")}``.
    """
    return {
        status: ResponseSpec(data_container=None, description=description, generate_examples=False)
    }


class ProblemError(Exception):
    """An error answered as RFC 9457 problem details.

    ``status`` is the HTTP status; ``code`` a stable machine-readable code (it becomes the ``type`` URI
    ``https://frontdesk.dev/problems/<code>`` and the ``code`` member); ``detail`` a human sentence;
    ``extra`` further members merged into the body (e.g. ``errors``); ``headers`` response headers.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The problem+json object: ``type``, ``title``, ``status``, ``detail``, ``code`` and ``extra``."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return body


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[bytes]:
    """A ready ``application/problem+json`` response."""
    return Response(
        content=msgspec.json.encode(problem_body(status, code, detail, **extra)),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _on_problem(_: Request[Any, Any, Any], exc: ProblemError) -> Response[bytes]:
    return problem_response(exc.status, exc.code, exc.detail, headers=exc.headers, **exc.extra)


def on_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Litestar's ``HTTPException`` as problem+json: the code from the status title, or
    ``malformed_request`` with Litestar's ``errors`` for a ``ValidationException`` (a route's own
    handler can refine some cases and pass the rest here).
    """
    status = exc.status_code
    code = _TITLES.get(status, "error").lower().replace(" ", "_")
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException):
        code = "malformed_request"
        if isinstance(exc.extra, list):
            extra["errors"] = exc.extra
    headers = dict(exc.headers or {})
    return problem_response(status, code, exc.detail, headers=headers, **extra)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _on_unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """A bug's 500. The log line names the exception's type, the route's template and the
    frames, never the exception's text or the request's path: either may quote what the visitor
    sent (no visitor data in any log line; the request id ties the line to the request).
    """
    method = request.method if request.method in _METHODS else "OTHER"
    template = path_template(request.scope) or "(no route)"
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unhandled %s on %s %s\n%s", type(exc).__name__, method, template, frames.rstrip())
    return problem_response(
        HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "An unexpected error occurred."
    )


_HANDLERS: ExceptionHandlersMap = {
    ProblemError: _on_problem,
    HTTPException: on_http_exception,
    Exception: _on_unhandled,
}


def exception_handlers() -> ExceptionHandlersMap:
    """The handler map both apps install: problem errors, HTTP errors, then everything else."""
    return dict(_HANDLERS)


def exception_answer(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The answer :func:`exception_handlers` give to ``exc``: the handler of the first class in
    its MRO, as Litestar's exception middleware picks it. For code that answers before routing
    (the forms service's fast path), so its errors read like the routed path's.
    """
    handler = next(_HANDLERS[cls] for cls in type(exc).__mro__ if cls in _HANDLERS)
    return handler(request, exc)
