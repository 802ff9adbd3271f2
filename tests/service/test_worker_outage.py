"""``worker.outage``: a Redis client of the worker waits for Redis, logs the outage once and its end
once, backs off up to its cap, and gives up when told to. Real ``redis-server`` processes."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
import redis

from frontdesk.redis import connect
from tests.drills.harness import DrillRedis
from worker.outage import RedisWatch, RideOut


def test_a_command_waits_for_redis_and_the_outage_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    private = DrillRedis(tmp_path / "redis")  # not started yet: its port refuses connections
    ride_out = RideOut(RedisWatch(), cap=0.5)
    clients = [connect(private.url, retry=ride_out) for _ in range(3)]
    starter = threading.Timer(2.0, private.start)
    caplog.set_level(logging.INFO, logger="frontdesk.worker")
    began = time.monotonic()
    starter.start()
    try:
        answers: list[object] = []
        waiting = [threading.Thread(target=lambda c=c: answers.append(c.ping())) for c in clients]
        for thread in waiting:
            thread.start()
        for thread in waiting:
            thread.join(30)
        waited = time.monotonic() - began
    finally:
        starter.join()
        private.kill()
    assert answers == [True, True, True]
    assert 2.0 <= waited < 2.0 + 0.5 + 5, "not back within one capped backoff of the restart"
    lines = [r.getMessage() for r in caplog.records if r.name == "frontdesk.worker"]
    assert sum("Redis unreachable" in line for line in lines) == 1, lines
    assert sum("Redis answers again" in line for line in lines) == 1, lines
    assert ride_out.watch.recoveries == 1


def test_backoff_starts_at_once_doubles_and_is_capped() -> None:
    ride_out = RideOut(RedisWatch(), cap=2.0)
    assert ride_out.delay(1) == 0.0
    assert all(max(ride_out.delay(n) for _ in range(50)) <= 0.25 * 2 ** (n - 2) for n in (2, 3, 4))
    assert min(ride_out.delay(4) for _ in range(50)) >= 0.5
    assert all(ride_out.delay(n) <= 2.0 for n in range(2, 40))
    assert min(ride_out.delay(30) for _ in range(50)) >= 1.0


def test_given_up_a_wait_raises_at_its_next_attempt(tmp_path: Path) -> None:
    private = DrillRedis(tmp_path / "redis")  # never started
    ride_out = RideOut(RedisWatch(), cap=0.5)
    client = connect(private.url, retry=ride_out)
    threading.Timer(1.0, ride_out.give_up).start()
    began = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert time.monotonic() - began < 1.0 + 0.5 + 1
