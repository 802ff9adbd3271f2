"""Delivery outcomes counted in Redis: ``frontdesk_messages_total{kind, outcome}`` at ``/metrics``.

Kept in Redis, not in the worker process: workers have no HTTP port, and the count must survive
their restarts. The forms service reads the hash at scrape time
(:class:`frontdesk.metrics.QueueCollector`, given :data:`~frontdesk.submissions.keys.MESSAGE_COUNTS`).
"""

from __future__ import annotations

import redis

from frontdesk.submissions.keys import MESSAGE_COUNTS


def record_message(connection: redis.Redis, kind: str, outcome: str) -> None:
    """Count one delivery attempt's ``outcome`` (``sent``, ``retried``, ``failed``) for message
    ``kind`` (``HINCRBY`` of the field ``<kind>:<outcome>``). Raises ``redis.RedisError`` when Redis
    fails.
    """
    connection.hincrby(MESSAGE_COUNTS, f"{kind}:{outcome}", 1)
