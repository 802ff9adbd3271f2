"""A stop asked for while the worker runs its maintenance ends the worker's loop.

RQ's SIGTERM handler raises ``StopRequested`` wherever the main thread is when the signal arrives;
an idle worker spends part of its time in the sweep and the digests (worker/main.py
``run_maintenance_tasks``), whose own error handling must let that exception through. Swallowed, it
left the worker running until it was killed (the failover drill saw "warm shut down requested",
then "the sweep failed" and ten more seconds of maintenance).
"""

from __future__ import annotations

import signal

import pytest
import redis
from rq.exceptions import StopRequested

import worker.digest
import worker.sweep
from frontdesk.settings import load_settings
from worker.main import build_worker


@pytest.mark.parametrize("step", ["sweep", "digests"])
def test_sigterm_during_maintenance_ends_the_loop(
    env: dict[str, str],
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
) -> None:
    settings = load_settings()
    rq_worker = build_worker(settings)
    real_sweep, real_digests = worker.sweep.sweep, worker.digest.queue_digests

    def sweep(connection: redis.Redis, s: object) -> int:
        if step == "sweep":
            # RQ's own SIGTERM handler, run where the signal would interrupt: mid-sweep.
            rq_worker.request_stop(signal.SIGTERM, None)  # type: ignore[no-untyped-call]
        return real_sweep(connection, s)  # type: ignore[arg-type]

    def queue_digests(connection: redis.Redis, s: object) -> None:
        if step == "digests":
            rq_worker.request_stop(signal.SIGTERM, None)  # type: ignore[no-untyped-call]
        real_digests(connection, s)  # type: ignore[arg-type]

    monkeypatch.setattr(worker.sweep, "sweep", sweep)
    monkeypatch.setattr(worker.digest, "queue_digests", queue_digests)
    with pytest.raises(StopRequested):
        rq_worker.run_maintenance_tasks()
