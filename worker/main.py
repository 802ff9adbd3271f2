"""``frontdesk worker``: one RQ worker with the scheduler, the JSON serializer and our connection."""

from __future__ import annotations

import logging

from rq import Queue, Worker
from rq.serializers import JSONSerializer

from frontdesk.redis import connect
from frontdesk.settings import Settings

log = logging.getLogger("frontdesk.worker")


def build_worker(settings: Settings) -> Worker:
    """An RQ ``Worker`` on ``settings.queue_name``; RQ's own URL variable is never read.

    The connection has no socket timeout: the worker blocks on its queue for minutes.
    """
    connection = connect(settings.redis_url, socket_timeout=None)
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    maintenance = int(settings.worker_maintenance_interval)
    return Worker(
        [queue],
        connection=connection,
        serializer=JSONSerializer,
        maintenance_interval=maintenance,
        # RQ runs maintenance (abandoned-job recovery) only between dequeues, and an idle worker
        # blocks in BLMOVE for worker_ttl - 15 s (405 s by default): with a short maintenance
        # interval, wake at most 1 s after it, so it is honoured on an empty queue too.
        worker_ttl=min(420, maintenance + 16),
        log_job_description=False,
    )


def run(settings: Settings, *, burst: bool = False) -> bool:
    """Work until stopped (or, with ``burst``, until the queue is empty); always with the scheduler,
    since retries with an interval run only under it.
    """
    worker = build_worker(settings)
    log.info("worker %s listening on queue %s", worker.name, settings.queue_name)
    return worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
