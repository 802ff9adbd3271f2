"""Redis connections. RQ needs the sync client with bytes responses (``decode_responses=False``)."""

from __future__ import annotations

import redis
import redis.asyncio
from redis.retry import Retry


def connect(
    url: str, *, socket_timeout: float | None = 5.0, retry: Retry | None = None
) -> redis.Redis:
    """A sync client for ``url`` (``redis://``, ``rediss://`` or ``unix://``); connects lazily.

    ``socket_timeout`` bounds each command in seconds; RQ's worker needs ``None`` (it blocks on
    ``BLMOVE`` for minutes). ``health_check_interval`` makes a dropped connection reconnect.
    ``retry``: redis-py's retry policy (default: its own, a few attempts); the worker passes one that
    waits out an outage (``worker.outage``).
    """
    extra = {} if retry is None else {"retry": retry}
    return redis.Redis.from_url(
        url,
        decode_responses=False,
        socket_timeout=socket_timeout,
        socket_connect_timeout=5.0,
        health_check_interval=30,
        retry_on_timeout=False,
        **extra,
    )


def connect_async(url: str, *, socket_timeout: float | None = 5.0) -> redis.asyncio.Redis:
    """An asyncio client for ``url`` with the same settings as :func:`connect`; it binds to the
    event loop that first uses it, so build one per app (the factory), never per module.
    """
    return redis.asyncio.Redis.from_url(
        url,
        decode_responses=False,
        socket_timeout=socket_timeout,
        socket_connect_timeout=5.0,
        health_check_interval=30,
        retry_on_timeout=False,
    )
