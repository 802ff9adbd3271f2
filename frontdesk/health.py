"""Health routes shared by the services that need Redis to serve (``GET`` and ``HEAD``):
``/health/live`` (the process answers) and the public ``/health/ready`` (Redis answers a PING).

The public readiness answer is bare, ``{"status": "ok"}`` or 503 ``{"status": "unavailable"}``:
Redis's error names hosts and ports, which are nobody else's business (each service's internal port
says why). The app puts the sync client's ``ping`` in its state as ``redis_ping``.
"""

from __future__ import annotations

from typing import Any

import anyio
from litestar import HttpMethod, Request, Response, route
from litestar.datastructures import State

from frontdesk.internal import BareReady, bare_ready, bare_ready_responses

# Load-balancer probes may send HEAD: the health routes answer it too (RFC 9110 §9.3.2).
GET_HEAD = [HttpMethod.GET, HttpMethod.HEAD]


@route("/health/live", http_method=GET_HEAD, summary="The process is up")
async def live() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process answers."""
    return {"status": "ok"}


@route(
    "/health/ready",
    http_method=GET_HEAD,
    summary="Ready to serve: Redis answers",
    responses=bare_ready_responses("Redis does not answer"),
)
async def public_ready(request: Request[Any, Any, State]) -> Response[BareReady]:
    """200 ``{"status": "ok"}`` when Redis answers, else 503 ``{"status": "unavailable"}``; the
    reason is on the internal port only.
    """
    try:
        await anyio.to_thread.run_sync(request.app.state.redis_ping)
    except Exception:
        return bare_ready(False)
    return bare_ready(True)
