"""The worker's delivery counts, kept in Redis and exported by the forms service's ``/metrics`` as
``frontdesk_messages_total{kind, outcome}`` (frontdesk/metrics.py).

A module of its own so that the worker counts without importing the metrics module, whose Litestar
and Prometheus client imports would cost the worker's process about 12 MiB for one ``HINCRBY``.
"""

from __future__ import annotations

import redis

MESSAGES_KEY = "frontdesk:metrics:messages"


def record_message(connection: redis.Redis, kind: str, outcome: str) -> None:
    """Count one delivery attempt's ``outcome`` (``sent``, ``retried``, ``failed``, ``already_sent``,
    ``gone``) for message ``kind`` in Redis (``HINCRBY`` on :data:`MESSAGES_KEY`).

    Kept in Redis, not in the worker process: workers have no HTTP port, and the count must survive
    their restarts. Raises ``redis.RedisError`` when Redis fails.
    """
    connection.hincrby(MESSAGES_KEY, f"{kind}:{outcome}", 1)
