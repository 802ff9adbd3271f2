"""``GET /health/workers`` (and ``HEAD``): the workers' health as RQ's worker registry sees it.

A worker registers itself in Redis and refreshes its key with every heartbeat; RQ drops the key
when the heartbeat stops (the worker's TTL), so a listed worker is alive. The forms service is the
one HTTP face of the queue, hence this route lives here (the worker has no port).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import redis
from litestar import HttpMethod, Request, Response, route
from litestar.datastructures import State

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
