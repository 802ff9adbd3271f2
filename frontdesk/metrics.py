"""Prometheus metrics at ``/metrics`` of both services (``litestar.plugins.prometheus``).

What is exported (names are stable; docs/operations.md lists them for dashboards):

- ``frontdesk_requests_total`` / ``frontdesk_request_duration_seconds`` — labelled ``app_name``
  (``content`` or ``forms``), ``method``, ``path`` (the route template, never the raw path) and
  ``status_code``; ``frontdesk_requests_in_progress`` without ``status_code``. Counted by
  :class:`RequestMetrics`, a plain ASGI middleware: Litestar's ``PrometheusMiddleware`` builds a
  ``Request`` and label dicts per request and halved the content service's page throughput
  (bench/content.py: 5.5k → 10.1k requests/s without it, same run); this one keeps the same names.
- ``frontdesk_submissions_total{form, outcome, code}`` — ``outcome`` is ``accepted``, ``rejected``
  (``code`` = the problem code, e.g. ``validation_failed``) or ``quarantined`` (``code`` = the
  reason, e.g. ``honeypot``). The forms service calls :func:`submission_accepted`,
  :func:`submission_rejected` and :func:`submission_quarantined`, with defined form ids only: the
  form id comes from the URL, and every distinct label value is a new series (pass ``""`` for a
  request to an unknown form).
- ``frontdesk_content_reloads_total{outcome}`` — ``ok`` or ``error``; the content service calls
  :func:`content_reloaded` and :func:`content_reload_failed`.
- ``frontdesk_forms_reloads_total{outcome}`` — ``ok`` or ``error`` (a form file or ``site.yaml``
  did not load); the forms service calls :func:`forms_reloaded`.
- Read from Redis at scrape time by the forms service (:class:`QueueCollector`), so they are right
  whichever replica or worker did the work: ``frontdesk_queue_jobs{queue, state}`` (``queued`` — the
  queue depth —, ``started``, ``scheduled`` — waiting for a retry —, ``failed``),
  ``frontdesk_workers{queue}``, ``frontdesk_messages_total{kind, outcome}`` (the worker calls
  :func:`frontdesk.submissions.counters.record_message`: ``sent``, ``retried``, ``failed``,
  ``already_sent``, ``gone``) and ``frontdesk_redis_up`` (0 when Redis did not answer the scrape).

Counters live in this process (prometheus_client's model): run one server process per container
(``frontdesk serve`` defaults to ``--workers 1``) and scale with replicas, so every scrape sees the
whole process. Requests are counted per process, so sum over instances in queries.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from litestar import Response, get
from litestar.enums import ScopeType
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import PrometheusController
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from frontdesk.litestar_compat import path_template

PREFIX = "frontdesk"

SUBMISSIONS = Counter(
    f"{PREFIX}_submissions",
    "Submissions answered, by form, outcome (accepted, rejected, quarantined) and code.",
    ["form", "outcome", "code"],
)
REQUESTS = Counter(
    f"{PREFIX}_requests",
    "Requests answered, by app, method, route template and status.",
    ["app_name", "method", "path", "status_code"],
)
REQUEST_DURATION = Histogram(
    f"{PREFIX}_request_duration_seconds",
    "Request duration, in seconds, by app, method, route template and status.",
    ["app_name", "method", "path", "status_code"],
)
IN_PROGRESS = Gauge(
    f"{PREFIX}_requests_in_progress",
    "Requests being answered, by app, method and route template.",
    ["app_name", "method", "path"],
)
# Probes and scrapes would drown the traffic they are meant to watch.
_NOT_COUNTED = ("/health/", "/metrics")
CONTENT_RELOADS = Counter(
    f"{PREFIX}_content_reloads",
    "Loads of the site directory by the content service, by outcome (ok, error).",
    ["outcome"],
)

FORMS_RELOADS = Counter(
    f"{PREFIX}_forms_reloads",
    "Reloads of the form files by the forms service, by outcome (ok, error: a file did not load).",
    ["outcome"],
)


@functools.lru_cache(maxsize=1024)
def _submissions(form: str, outcome: str, code: str) -> Any:
    """The child counter of one label set: ``labels()`` takes a lock and builds its key on every
    call, a measurable part of a submission's CPU. The few form ids and codes bound the cache.
    """
    return SUBMISSIONS.labels(form, outcome, code)


def submission_accepted(form: str) -> None:
    """Count one accepted (stored, not quarantined) submission of ``form``."""
    _submissions(form, "accepted", "").inc()


def submission_rejected(form: str, code: str) -> None:
    """Count one refused submission of ``form``; ``code`` is the problem code of the answer."""
    _submissions(form, "rejected", code).inc()


def submission_quarantined(form: str, reason: str) -> None:
    """Count one quarantined submission of ``form``; ``reason`` is the spam check that caught it."""
    _submissions(form, "quarantined", reason).inc()


def content_reloaded() -> None:
    """Count one successful load of the site directory."""
    CONTENT_RELOADS.labels(outcome="ok").inc()


def content_reload_failed() -> None:
    """Count one load of the site directory that failed (the last good site is still served)."""
    CONTENT_RELOADS.labels(outcome="error").inc()


def forms_reloaded(ok: bool) -> None:
    """Count one reload of the form files: ``ok``, or ``error`` when a file did not load (its form
    answers 503, the others are served).
    """
    FORMS_RELOADS.labels(outcome="ok" if ok else "error").inc()


class QueueCollector(Collector):
    """Reads RQ's queue, registries and worker set, and the message counts, at scrape time.

    ``connection`` is a sync client with bytes responses; ``queue_name`` the RQ queue;
    ``messages_key`` the hash of delivery outcomes (``<kind>:<outcome>`` → count) the worker
    keeps. The key is given, not named here: the core knows no key of the submission domain.
    """

    def __init__(self, connection: redis.Redis, queue_name: str, messages_key: str) -> None:
        self.connection = connection
        self.queue_name = queue_name
        self.messages_key = messages_key

    def collect(self) -> Iterable[Metric]:
        """The families; only ``frontdesk_redis_up 0`` when Redis does not answer."""
        up = GaugeMetricFamily(f"{PREFIX}_redis_up", "1 when Redis answered this scrape.")
        try:
            families = list(self._families())
        except redis.RedisError:
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]

    def _families(self) -> Iterator[Metric]:
        from rq import Queue, Worker
        from rq.serializers import JSONSerializer

        queue = Queue(self.queue_name, connection=self.connection, serializer=JSONSerializer)
        jobs = GaugeMetricFamily(
            f"{PREFIX}_queue_jobs",
            "Jobs by state: queued (the queue depth), started, scheduled (waiting), failed.",
            labels=["queue", "state"],
        )
        jobs.add_metric([self.queue_name, "queued"], queue.count)
        jobs.add_metric([self.queue_name, "started"], queue.started_job_registry.count)
        jobs.add_metric([self.queue_name, "scheduled"], queue.scheduled_job_registry.count)
        jobs.add_metric([self.queue_name, "failed"], queue.failed_job_registry.count)
        yield jobs
        workers = GaugeMetricFamily(
            f"{PREFIX}_workers", "Workers registered on the queue.", labels=["queue"]
        )
        workers.add_metric([self.queue_name], Worker.count(connection=self.connection, queue=queue))
        yield workers
        messages = CounterMetricFamily(
            f"{PREFIX}_messages",
            "Email delivery attempts by kind and outcome.",
            labels=["kind", "outcome"],
        )
        counts: dict[bytes, bytes] = self.connection.hgetall(self.messages_key)  # type: ignore[assignment]
        for field, value in sorted(counts.items()):
            kind, _, outcome = field.decode().partition(":")
            messages.add_metric([kind, outcome], int(value))
        yield messages


def prometheus(
    app_name: str,
    collectors: Iterable[Collector] = (),
    counters: RequestCounters | None = None,
) -> tuple[DefineMiddleware, type[PrometheusController]]:
    """The middleware and the ``/metrics`` controller for the app ``app_name``.

    The controller answers the process-wide registry (requests, submissions, reloads) followed by
    ``collectors``, which belong to this app only (tests build many apps in one process).
    Health and metrics routes are not counted as requests: probes would drown the traffic.
    ``counters`` is given when the app also counts requests it answers before routing.
    """
    own = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        own.register(collector)

    class Metrics(PrometheusController):
        @get(sync_to_thread=True, include_in_schema=False)
        def get(self) -> Response[bytes]:
            """Prometheus text exposition; reading the queue is blocking Redis I/O, hence a thread."""
            body = generate_latest(REGISTRY) + generate_latest(own)
            return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    counters = counters or RequestCounters(app_name)
    return DefineMiddleware(RequestMetrics, counters=counters), Metrics


class RequestCounters:
    """The request series of app ``app_name`` (see the module doc), for one request at a time:
    :meth:`begin` when it starts, :meth:`end` when it is answered.
    """

    def __init__(self, app_name: str) -> None:
        self.app_name = app_name
        # prometheus_client's labels() takes a lock and builds a key each call: keep the children.
        self._counted: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._in_progress: dict[tuple[str, str], Any] = {}

    def begin(self, method: str, path: str) -> Any:
        """Count a request to route template ``path`` as in progress; returns what :meth:`end`
        needs.
        """
        in_progress = self._in_progress.get((method, path))
        if in_progress is None:
            in_progress = self._in_progress[method, path] = IN_PROGRESS.labels(
                self.app_name, method, path
            )
        in_progress.inc()
        return in_progress

    def end(self, begun: Any, method: str, path: str, status: int, seconds: float) -> None:
        """Count the request answered with ``status`` after ``seconds``."""
        begun.dec()
        counted = self._counted.get((method, path, status))
        if counted is None:
            labels = (self.app_name, method, path, str(status))
            counted = self._counted[method, path, status] = (
                REQUESTS.labels(*labels),
                REQUEST_DURATION.labels(*labels),
            )
        counted[0].inc()
        counted[1].observe(seconds)


class RequestMetrics:
    """ASGI middleware counting each routed HTTP request in ``counters`` (see the module doc).

    Litestar runs app middleware after routing, so ``scope["path_template"]`` is the route's
    template; unrouted requests (404 before any handler) never reach it.
    """

    def __init__(self, app: ASGIApp, counters: RequestCounters) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; count it, its status and its duration when it is answered."""
        path = path_template(scope) or scope["path"]
        if scope["type"] != ScopeType.HTTP or path.startswith(_NOT_COUNTED):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        noted = StatusNote(send)
        started = time.perf_counter()
        begun = self.counters.begin(method, path)
        try:
            await self.app(scope, receive, noted)
        finally:
            self.counters.end(begun, method, path, noted.status, time.perf_counter() - started)


class StatusNote:
    """An ASGI ``send`` that passes every message on to ``send`` and notes the status of the
    response it starts: :attr:`status` is 500 — what the client sees when the app raises before
    answering — until then.
    """

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        """Note the status of ``http.response.start``; pass the message on."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)
