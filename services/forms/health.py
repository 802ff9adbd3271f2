"""The forms service's health routes (``GET`` and ``HEAD``: load-balancer probes may send HEAD).

- ``/health/live`` — the process answers; on both ports.
- ``/health/ready`` — Redis answers a PING. On the internal port (:data:`ready`) a failure is 503
  problem+json with Redis's error; on the public port (:data:`public_ready`) only
  ``{"status": "unavailable"}``: the error names hosts and ports, which are nobody else's business.
  The internal answer is ``degraded`` (still 200: the other forms are served) while form files or
  ``site.yaml`` do not load, naming the forms that answer 503 and the problems.
- ``/health/workers`` — internal port only: the workers' health as RQ's worker registry sees it. A
  worker registers itself in Redis and refreshes its key with every heartbeat; RQ drops the key
  when the heartbeat stops (the worker's TTL), so a listed worker is alive. The forms service is
  the one HTTP face of the queue, hence this route lives here (the worker has no port).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
import msgspec
import redis
from litestar import HttpMethod, Request, Response, route
from litestar.datastructures import State

from frontdesk.health import GET_HEAD
from frontdesk.problems import ProblemError, problem_responses


class WorkerOut(msgspec.Struct, kw_only=True):
    """One worker: RQ's name, host, state (``idle``, ``busy``…) and last heartbeat (UTC)."""

    name: str
    hostname: str | None
    state: str
    last_heartbeat: dt.datetime | None


class WorkersOut(msgspec.Struct, kw_only=True):
    """``{count, last_heartbeat, workers}``: ``last_heartbeat`` is the freshest of all workers."""

    count: int
    last_heartbeat: dt.datetime | None
    workers: list[WorkerOut]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # RQ parses its timestamps as naive UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def workers_of(connection: redis.Redis, queue_name: str) -> WorkersOut:
    """The workers listening on ``queue_name``; raises ``redis.RedisError`` when Redis fails."""
    from rq import Queue, Worker
    from rq.serializers import JSONSerializer

    queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
    found = Worker.all(connection=connection, queue=queue, serializer=JSONSerializer)
    workers = sorted(
        (
            WorkerOut(
                name=w.name,
                hostname=w.hostname,
                state=str(w.get_state()),
                last_heartbeat=_utc(w.last_heartbeat),
            )
            for w in found
        ),
        key=lambda w: w.name,
    )
    beats = [w.last_heartbeat for w in workers if w.last_heartbeat is not None]
    return WorkersOut(count=len(workers), last_heartbeat=max(beats, default=None), workers=workers)


@route(
    "/health/workers",
    http_method=[HttpMethod.GET, HttpMethod.HEAD],  # probes may send HEAD
    summary="Workers on the queue",
    sync_to_thread=True,
    responses=problem_responses(503),
)
def health_workers(request: Request[Any, Any, State]) -> Response[WorkersOut]:
    """200 ``{count, last_heartbeat, workers: [{name, hostname, state, last_heartbeat}]}`` when at
    least one worker is registered; 503 problem+json ``no_workers`` (same members) when none is,
    ``redis_unavailable`` when Redis does not answer.
    """
    state = request.app.state.forms
    try:
        found = workers_of(state.store.redis, state.settings.queue_name)
    except redis.RedisError as exc:
        raise ProblemError(503, "redis_unavailable", f"Redis does not answer: {exc}") from None
    if found.count == 0:
        raise ProblemError(
            503,
            "no_workers",
            "No worker is registered on the queue; submissions are stored but not emailed.",
            extra=msgspec.to_builtins(found),
        )
    return Response(found)


class ReadyOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The internal ``/health/ready``: ``ok``, or ``degraded`` with the forms that answer 503
    ``form_unavailable`` (``unavailable_forms``, ids) and every problem of the site's form files and
    ``site.yaml`` (``errors``, ``file: $.path: message``).
    """

    status: str
    unavailable_forms: list[str] = []
    errors: list[str] = []


async def _ping(request: Request[Any, Any, State]) -> None:
    """Raises whatever the PING raised when Redis does not answer."""
    state = request.app.state.forms
    await anyio.to_thread.run_sync(state.store.redis.ping)


@route(
    "/health/ready",
    http_method=GET_HEAD,
    summary="Redis answers",
    responses=problem_responses(503),
)
async def ready(request: Request[Any, Any, State]) -> Response[ReadyOut]:
    """200 ``{"status": "ok"}`` when Redis answers a PING; 200 ``{"status": "degraded",
    "unavailable_forms": [...], "errors": [...]}`` while form files (those forms answer 503) or
    ``site.yaml`` (its last good settings are used) do not load; 503 problem+json naming Redis's
    error when it does not answer (internal port).
    """
    try:
        await _ping(request)
    except Exception as exc:
        raise ProblemError(503, "redis_unavailable", f"Redis does not answer: {exc}") from None
    catalog = request.app.state.forms.catalog
    errors = catalog.problems
    return Response(
        ReadyOut(
            status="degraded" if errors else "ok",
            unavailable_forms=sorted(catalog.broken),
            errors=errors,
        )
    )
