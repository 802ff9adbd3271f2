"""Riding out a Redis outage: the worker's Redis commands wait for Redis instead of failing.

RQ's worker quits its loop on most Redis errors (only the wait on the queue retries, logging a line per
attempt), and its scheduler process dies. Instead, every Redis client of the worker's processes (the
parent, the scheduler and the work horses it forks, the job's own client) is built with
:class:`RideOut`, a redis-py ``Retry`` that retries a command on ``ConnectionError`` and
``TimeoutError`` (``BusyLoadingError``, Redis replaying its AOF, is a ``ConnectionError``) until it
succeeds: the first retry at once (a connection closed by the restart reconnects), then after
0.25 s doubling up to ``FRONTDESK_WORKER_RECONNECT_MAX`` seconds (with jitter, so replicas do not
knock in step). A job stays bounded by its timeout (RQ's alarm interrupts the wait).

:class:`RedisWatch` keeps the outage state in memory shared by those processes (built before they
fork), so the whole worker logs one ``ERROR`` line when an outage begins ("Redis unreachable") and one
``WARNING`` when Redis answers again, whichever process notices first.

When the worker is asked to stop, :meth:`RideOut.give_up` makes waiting commands fail at their next
attempt, so a stop during an outage takes at most one backoff interval.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger("frontdesk.worker")
T = TypeVar("T")

FIRST_DELAY = 0.25  # seconds before the second reconnection attempt; it doubles up to the cap


class RedisWatch:
    """When the current Redis outage began (``time.time()``), shared by the processes forked after
    this is built; logs the outage's first and last line once for all of them.
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._since = context.RawValue("d", 0.0)
        self._last_up = context.RawValue("d", 0.0)
        self._recoveries = context.RawValue("q", 0)
        self._lock = context.Lock()

    @property
    def recoveries(self) -> int:
        """How many outages have ended so far (the worker registers again after each)."""
        return int(self._recoveries.value)

    def down(self, error: BaseException, failing_since: float) -> None:
        """Redis did not answer a reconnection attempt of a process failing since ``failing_since``
        (``time.time()`` of its first failed attempt): log the outage unless it is logged already, or
        unless that process's failures began before the last recovery, i.e. belong to an outage
        already logged as over (a process can fail just before Redis returns and report it after).
        """
        with self._locked():
            if self._since.value or failing_since <= self._last_up.value:
                return
            self._since.value = time.time()
        log.error(
            "Redis unreachable (%s); the worker waits for it and goes on where it stopped", error
        )

    def up(self) -> None:
        """Redis answered: log the end of the outage, if one was logged."""
        with self._locked():
            since, self._since.value = self._since.value, 0.0
            if since:
                self._recoveries.value += 1
                self._last_up.value = time.time()
        if since:
            log.warning("Redis answers again after %.1f s unreachable", time.time() - since)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # A process killed inside the lock (a SIGKILLed work horse) must not block the others: after
        # a second they go on without it (at worst a line twice).
        held = self._lock.acquire(timeout=1.0)
        try:
            yield
        finally:
            if held:
                self._lock.release()


class RideOut(Retry):
    """A redis-py retry policy that retries connection errors until Redis answers (see the module).

    ``cap`` is the longest wait between attempts, in seconds. One instance is shared by every client
    of the worker's process tree (``deepcopy`` returns it), so the watch and ``give_up`` reach them.
    """

    def __init__(self, watch: RedisWatch, cap: float) -> None:
        super().__init__(NoBackoff(), -1, (redis.ConnectionError, redis.TimeoutError, TimeoutError))
        self.watch = watch
        self.cap = max(FIRST_DELAY, cap)
        self.giving_up = False

    def __deepcopy__(self, memo: dict[int, Any]) -> RideOut:
        return self

    def give_up(self) -> None:
        """From now on, in this process, a failed attempt raises instead of waiting."""
        self.giving_up = True

    def delay(self, failures: int) -> float:
        """Seconds before the next attempt after ``failures`` failed ones (the first: none)."""
        if failures <= 1:
            return 0.0
        ceiling = min(self.cap, FIRST_DELAY * 2 ** (failures - 2))
        return random.uniform(ceiling / 2, ceiling)

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        """``do()`` until it succeeds; ``fail`` (redis-py's: it disconnects) after each failure."""
        failures = 0
        failing_since = 0.0
        while True:
            try:
                result = do()
            except self._supported_errors as error:
                if is_retryable is not None and not is_retryable(error):
                    raise
                failures += 1
                failing_since = failing_since or time.time()
                if with_failure_count:
                    fail(error, failures)
                else:
                    fail(error)
                if self.giving_up:
                    raise
                if failures > 1:
                    self.watch.down(error, failing_since)
                time.sleep(self.delay(failures))
                continue
            if failures:
                self.watch.up()
            return result


_INSTALLED: RideOut | None = None


def install(ride_out: RideOut) -> None:
    """Make ``ride_out`` the policy of the Redis clients built by :func:`riding_out` in this process
    and the processes it forks afterwards (the worker parent calls this before any fork).
    """
    global _INSTALLED
    _INSTALLED = ride_out


def riding_out() -> RideOut | None:
    """The installed policy, or ``None`` outside a worker (then redis-py's default retries apply)."""
    return _INSTALLED
