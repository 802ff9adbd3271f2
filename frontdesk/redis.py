"""Redis connections. RQ needs the sync client with bytes responses (``decode_responses=False``).

Each function takes the process's :class:`~frontdesk.settings.Settings` (or a bare URL, for tools and
tests). With ``FRONTDESK_REDIS_SENTINELS`` set, the client is redis-py's Sentinel client of the
primary named ``FRONTDESK_REDIS_SENTINEL_MASTER``: every new connection asks the sentinels where the
primary is, and a connection to a primary that was demoted (``READONLY``) or died fails and is
replaced, so a process follows a failover without a restart. ``FRONTDESK_REDIS_URL`` then gives the
scheme (``rediss://``: TLS), the credentials and the database; its host and port are not used.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio
import redis.asyncio.connection
import redis.asyncio.sentinel
import redis.connection
import redis.sentinel
from redis.connection import parse_url
from redis.retry import Retry
from redis.utils import SENTINEL

from frontdesk.settings import Settings, sentinel_address


class SentinelConnection(redis.sentinel.SentinelManagedConnection):
    """redis-py's Sentinel-managed connection, mended in two ways (redis-py 8.1; both seen in the
    failover drill and a demotion test):

    - a connection that was closed (a failed command, a demoted primary's ``READONLY``) connects
      again to the primary the sentinels name now. redis-py's ``send_packed_command`` reconnects
      with ``connect_check_health``, to the last address, skipping the Sentinel lookup of
      ``connect()``: the worker's retried ``BLMOVE`` went back to the demoted primary forever;
    - a read that fails closes the connection first, as redis-py's plain ``Connection`` does (its
      Sentinel one defaults ``disconnect_on_error`` to ``False``): a ``BLMOVE`` interrupted by
      ``SIGTERM`` went back to the pool with its answer still to come, and the next command on it
      (the worker's death registration) read that answer after the wait, a ``ResponseError``.
    """

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        """Send ``command``, connecting first to the current primary when not connected."""
        if not self._sock:
            self.connect()  # type: ignore[no-untyped-call]
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]

    def read_response(
        self,
        disable_decoding: bool = False,
        *,
        timeout: float | object = SENTINEL,
        disconnect_on_error: bool | None = True,
        push_request: bool | None = False,
    ) -> Any:
        """The answer to the last command; on any error the connection is closed first."""
        return super().read_response(
            disable_decoding,
            timeout=timeout,
            disconnect_on_error=disconnect_on_error,
            push_request=push_request,
        )


class SentinelSSLConnection(SentinelConnection, redis.connection.SSLConnection):
    """:class:`SentinelConnection` over TLS (``rediss://``)."""


class AsyncSentinelConnection(redis.asyncio.sentinel.SentinelManagedConnection):
    """The asyncio :class:`SentinelConnection`: it reconnects to the primary the sentinels name
    now (the asyncio ``send_packed_command`` also reconnects to the last address).
    """

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        """Send ``command``, connecting first to the current primary when not connected."""
        if not self.is_connected:
            await self.connect()  # type: ignore[no-untyped-call]
        await super().send_packed_command(command, check_health)


class AsyncSentinelSSLConnection(AsyncSentinelConnection, redis.asyncio.connection.SSLConnection):
    """:class:`AsyncSentinelConnection` over TLS (``rediss://``)."""


# Sentinels answer from memory: a second is long for one, and the next one is asked after it.
SENTINEL_TIMEOUT = 1.0


def _common(socket_timeout: float | None) -> dict[str, Any]:
    return {
        "decode_responses": False,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": 5.0,
        "health_check_interval": 30,
        "retry_on_timeout": False,
    }


def _sentinel_kwargs(url: str) -> dict[str, Any]:
    """The primary's connection arguments from ``url`` without its host and port; ``ssl`` for
    ``rediss://``.
    """
    kwargs = dict(parse_url(url))  # type: ignore[no-untyped-call]
    for unused in ("host", "port", "path", "connection_class"):
        kwargs.pop(unused, None)
    if url.startswith("rediss://"):
        kwargs["ssl"] = True  # the asyncio pool picks its TLS class from it
    return kwargs


def sentinels(settings: Settings) -> list[tuple[str, int]]:
    """``FRONTDESK_REDIS_SENTINELS`` as ``(host, port)`` pairs (empty: no Sentinel)."""
    return [sentinel_address(entry) for entry in settings.redis_sentinels]


def connect(
    where: Settings | str, *, socket_timeout: float | None = 5.0, retry: Retry | None = None
) -> redis.Redis:
    """A sync client of ``where``'s Redis (settings, or a ``redis://``, ``rediss://`` or
    ``unix://`` URL); connects lazily.

    ``socket_timeout`` bounds each command in seconds; RQ's worker needs ``None`` (it blocks on
    ``BLMOVE`` for minutes). ``health_check_interval`` makes a dropped connection reconnect.
    ``retry``: redis-py's retry policy (default: its own, a few attempts); the worker passes one that
    waits out an outage (``worker.outage``), a failover included (no primary known yet is a
    ``ConnectionError``).
    """
    extra: dict[str, Any] = {} if retry is None else {"retry": retry}
    url = where if isinstance(where, str) else where.redis_url
    if isinstance(where, str) or not where.redis_sentinels:
        return redis.Redis.from_url(url, **_common(socket_timeout), **extra)
    manager = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        sentinels(where),
        sentinel_kwargs={
            "socket_timeout": SENTINEL_TIMEOUT,
            "socket_connect_timeout": SENTINEL_TIMEOUT,
        },
    )
    kwargs = _sentinel_kwargs(url)
    secure = kwargs.pop("ssl", False)
    client: redis.Redis = manager.master_for(  # type: ignore[no-untyped-call]
        where.redis_sentinel_master,
        connection_class=SentinelSSLConnection if secure else SentinelConnection,
        **kwargs,
        **_common(socket_timeout),
        **extra,
    )
    return client


def connect_async(
    where: Settings | str, *, socket_timeout: float | None = 5.0
) -> redis.asyncio.Redis:
    """An asyncio client of ``where``'s Redis with the same settings as :func:`connect`; it binds
    to the event loop that first uses it, so build one per app (the factory), never per module.
    """
    url = where if isinstance(where, str) else where.redis_url
    if isinstance(where, str) or not where.redis_sentinels:
        return redis.asyncio.Redis.from_url(url, **_common(socket_timeout))
    manager = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        sentinels(where),
        sentinel_kwargs={
            "socket_timeout": SENTINEL_TIMEOUT,
            "socket_connect_timeout": SENTINEL_TIMEOUT,
        },
    )
    kwargs = _sentinel_kwargs(url)
    secure = kwargs.pop("ssl", False)
    client: redis.asyncio.Redis = manager.master_for(
        where.redis_sentinel_master,
        connection_class=AsyncSentinelSSLConnection if secure else AsyncSentinelConnection,
        **kwargs,
        **_common(socket_timeout),
    )
    return client
