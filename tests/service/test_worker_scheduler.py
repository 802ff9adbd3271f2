"""RQ's scheduler as a thread of the worker's process: it registers with the worker's PID, moves a
due scheduled job (a retry) to the queue, the worker's maintenance starts a new thread when one ended
on an error (as RQ restarts a dead scheduler process), and it stops with the worker, releasing its
lock.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable

import redis

from frontdesk.settings import Settings
from worker.main import build_worker

LOCK = "rq:scheduler-lock:frontdesk"


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_the_scheduler_is_a_thread_that_moves_due_jobs_and_comes_back(
    settings: Settings, redis_client: redis.Redis
) -> None:
    worker = build_worker(settings)
    worker._start_scheduler()
    scheduler = worker.scheduler
    assert scheduler is not None
    thread = scheduler._process
    try:
        assert isinstance(thread, threading.Thread)
        assert thread.is_alive()
        eventually(lambda: redis_client.hget(scheduler.key, "pid") == str(os.getpid()).encode())
        assert redis_client.get(LOCK) == scheduler.name.encode()

        job = worker.queues[0].enqueue_in(dt.timedelta(seconds=1), "os.getcwd")
        eventually(lambda: job.id in worker.queues[0].job_ids)

        # A round that fails on an error RQ does not handle ends the thread (RQ logs it) ...
        def broken() -> None:
            raise RuntimeError("drill: the scheduling round failed")

        scheduler.enqueue_scheduled_jobs = broken  # type: ignore[method-assign]
        thread.join(10)
        assert not thread.is_alive()
        del scheduler.enqueue_scheduled_jobs

        # ... and the maintenance run after the first one starts a new thread.
        worker.last_cleaned_at = dt.datetime.now(dt.UTC)
        worker.run_maintenance_tasks()
        restarted = worker.scheduler._process
        assert restarted is not thread
        assert isinstance(restarted, threading.Thread)
        assert restarted.is_alive()
        job = worker.queues[0].enqueue_in(dt.timedelta(seconds=1), "os.getcwd")
        eventually(lambda: job.id in worker.queues[0].job_ids)
    finally:
        worker.stop_scheduler()
    assert not worker.scheduler._process.is_alive()
    assert redis_client.get(LOCK) is None, "a stopped scheduler releases its lock"
