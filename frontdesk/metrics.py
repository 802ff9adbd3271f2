"""Prometheus metrics at ``/metrics`` of both services (``litestar.plugins.prometheus``).

What is exported (names are stable; docs/operations.md lists them for dashboards):

- ``frontdesk_requests_total`` / ``frontdesk_request_duration_seconds`` /
  ``frontdesk_requests_in_progress`` — Litestar's middleware, labelled ``app_name`` (``content`` or
  ``forms``), ``method``, ``path`` (the route template, never the raw path) and ``status_code``.
- ``frontdesk_submissions_total{form, outcome, code}`` — ``outcome`` is ``accepted``, ``rejected``
  (``code`` = the problem code, e.g. ``validation_failed``) or ``quarantined`` (``code`` = the
  reason, e.g. ``honeypot``). The forms service calls :func:`submission_accepted`,
  :func:`submission_rejected` and :func:`submission_quarantined`, with defined form ids only: the
  form id comes from the URL, and every distinct label value is a new series (pass ``""`` for a
  request to an unknown form).
- ``frontdesk_content_reloads_total{outcome}`` — ``ok`` or ``error``; the content service calls
  :func:`content_reloaded` and :func:`content_reload_failed`.
- Read from Redis at scrape time by the forms service (:class:`QueueCollector`), so they are right
  whichever replica or worker did the work: ``frontdesk_queue_jobs{queue, state}`` (``queued`` — the
  queue depth —, ``started``, ``scheduled`` — waiting for a retry —, ``failed``),
  ``frontdesk_workers{queue}``, ``frontdesk_messages_total{kind, outcome}`` (the worker calls
  :func:`record_message`: ``sent``, ``retried``, ``failed``, ``already_sent``, ``gone``) and
  ``frontdesk_redis_up`` (0 when Redis did not answer the scrape).

Counters live in this process (prometheus_client's model): run one server process per container
(``frontdesk serve`` defaults to ``--workers 1``) and scale with replicas, so every scrape sees the
whole process. Requests are counted per process, so sum over instances in queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import redis
from litestar import Response, get
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "frontdesk"
MESSAGES_KEY = "frontdesk:metrics:messages"

SUBMISSIONS = Counter(
    f"{PREFIX}_submissions",
    "Submissions answered, by form, outcome (accepted, rejected, quarantined) and code.",
    ["form", "outcome", "code"],
)
CONTENT_RELOADS = Counter(
    f"{PREFIX}_content_reloads",
    "Loads of the site directory by the content service, by outcome (ok, error).",
    ["outcome"],
)


def submission_accepted(form: str) -> None:
    """Count one accepted (stored, not quarantined) submission of ``form``."""
    SUBMISSIONS.labels(form=form, outcome="accepted", code="").inc()


def submission_rejected(form: str, code: str) -> None:
    """Count one refused submission of ``form``; ``code`` is the problem code of the answer."""
    SUBMISSIONS.labels(form=form, outcome="rejected", code=code).inc()


def submission_quarantined(form: str, reason: str) -> None:
    """Count one quarantined submission of ``form``; ``reason`` is the spam check that caught it."""
    SUBMISSIONS.labels(form=form, outcome="quarantined", code=reason).inc()


def content_reloaded() -> None:
    """Count one successful load of the site directory."""
    CONTENT_RELOADS.labels(outcome="ok").inc()


def content_reload_failed() -> None:
    """Count one load of the site directory that failed (the last good site is still served)."""
    CONTENT_RELOADS.labels(outcome="error").inc()


def record_message(connection: redis.Redis, kind: str, outcome: str) -> None:
    """Count one delivery attempt's ``outcome`` for message ``kind`` in Redis (``HINCRBY``).

    Kept in Redis, not in the worker process: workers have no HTTP port, and the count must survive
    their restarts. Raises ``redis.RedisError`` when Redis fails.
    """
    connection.hincrby(MESSAGES_KEY, f"{kind}:{outcome}", 1)


class QueueCollector(Collector):
    """Reads RQ's queue, registries and worker set, and the message counts, at scrape time.

    ``connection`` is a sync client with bytes responses; ``queue_name`` the RQ queue.
    """

    def __init__(self, connection: redis.Redis, queue_name: str) -> None:
        self.connection = connection
        self.queue_name = queue_name

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
        counts: dict[bytes, bytes] = self.connection.hgetall(MESSAGES_KEY)  # type: ignore[assignment]
        for field, value in sorted(counts.items()):
            kind, _, outcome = field.decode().partition(":")
            messages.add_metric([kind, outcome], int(value))
        yield messages


def prometheus(
    app_name: str, collectors: Iterable[Collector] = ()
) -> tuple[DefineMiddleware, type[PrometheusController]]:
    """The middleware and the ``/metrics`` controller for the app ``app_name``.

    The controller answers the process-wide registry (requests, submissions, reloads) followed by
    ``collectors``, which belong to this app only (tests build many apps in one process).
    Health and metrics routes are not counted as requests: probes would drown the traffic.
    """
    config = PrometheusConfig(
        app_name=app_name,
        prefix=PREFIX,
        group_path=True,
        exclude=["^/health/", "^/metrics"],
        exclude_unhandled_paths=True,
    )
    own = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        own.register(collector)

    class Metrics(PrometheusController):
        @get(sync_to_thread=True, include_in_schema=False)
        def get(self) -> Response[bytes]:
            """Prometheus text exposition; reading the queue is blocking Redis I/O, hence a thread."""
            body = generate_latest(REGISTRY) + generate_latest(own)
            return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return config.middleware, Metrics
