"""`make run` while Redis blinks: SIGKILLed and restarted (same port, same AOF directory) once in
each state of the worker and three more times at random while 200 submissions flow.

The named states: idle (with a retry scheduled before the outage), dequeuing (the worker holds a job
it has just taken, before its work horse starts), mid-send (the SMTP server holds DATA while Redis is
down) and between the relay's 250 and the record update. The last two and dequeuing are reached
exactly: the SMTP server holds the message, and the worker's test-only pause points
(``FRONTDESK_DRILL_PAUSE_DIR``, see ``worker/pause.py``) hold the process there while Redis dies.

At the end: every 201 has its staff email, the stack's processes are the ones started (the worker
with the same PID, its scheduler a thread of it), and the worker logged one line per outage and one
per recovery, never RQ's "quitting".
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.drills.harness import (
    REPORTS,
    Sent,
    assert_no_canary,
    process_output,
    rq_keys,
    staff_message_id,
    wait_until,
)
from tests.drills.stack import StackDrill

pytestmark = [pytest.mark.e2e, pytest.mark.drill, pytest.mark.timeout(300)]

DOWN = "Redis unreachable"
BACK = "Redis answers again"
OUTAGE = 2.5  # seconds Redis stays down in the named states: longer than the worker's heartbeat


ONE_AT_A_TIME = threading.Lock()  # an outage started during another waits for its end


def outage(stack: StackDrill, seconds: float, while_down: Callable[[], None] | None = None) -> None:
    """SIGKILL Redis, run ``while_down``, wait the rest of ``seconds``, start it again (AOF replay),
    then wait until the worker says it reached Redis again, so each outage is one outage for it too.
    """
    with ONE_AT_A_TIME:
        began = time.monotonic()
        recoveries = sum(BACK in line for line in stack.worker_lines())
        stack.kill_redis()
        if while_down is not None:
            while_down()
        time.sleep(max(0.0, seconds - (time.monotonic() - began)))
        stack.redis.start()
        back = wait_until(
            lambda: sum(BACK in line for line in stack.worker_lines()) > recoveries, 20
        )
        assert back, "the worker did not say that Redis answers again"


def delivered(stack: StackDrill, sent: Sent, timeout: float = 60) -> bool:
    assert sent.status == 201, f"submission {sent.index}: {sent.status}"
    assert sent.submission_id
    message_id = staff_message_id(sent.submission_id)
    return wait_until(lambda: stack.smtp.count(message_id) > 0, timeout)


def submit(stack: StackDrill, index: int) -> Sent:
    sent = stack.send(index)
    stack.report.sent.append(sent)
    return sent


def idle(stack: StackDrill) -> bool:
    """Nothing waiting, handed over or running in RQ (scheduled retries may wait)."""
    client = stack.redis.client()
    keys = rq_keys(client)
    try:
        return not (
            client.llen(keys.queue) or client.llen(keys.intermediate) or client.zcard(keys.started)
        )
    finally:
        client.close()


class Pause:
    """A pause point of the worker (``worker/pause.py``): ``arm()`` it, wait until a process
    ``reached()`` it, ``release()`` it."""

    def __init__(self, directory: Path, point: str) -> None:
        self.armed = directory / point
        self.holding = directory / f"{point}.paused"

    def arm(self) -> None:
        self.armed.touch()

    def reached(self, timeout: float = 20) -> bool:
        return wait_until(self.holding.exists, timeout, interval=0.01)

    def release(self) -> None:
        self.holding.unlink()


def test_stack_rides_out_redis_blinks(tmp_path: Path) -> None:
    pauses = tmp_path / "pauses"
    pauses.mkdir()
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    env = {
        "FRONTDESK_DRILL_PAUSE_DIR": str(pauses),
        # The parent beats every second, so a 2.5 s outage while a job runs reaches it too.
        "FRONTDESK_WORKER_HEARTBEAT": "1",
        # A retry scheduled before the idle outage is due after it.
        "FRONTDESK_RETRY_BASE_SECONDS": "6",
    }
    stack = StackDrill("make run while Redis blinks", tmp_path, env)
    stack.report.notes.append(f"random seed {seed}")
    REPORTS.append(stack.report)
    outages = 0
    try:
        stack.up()
        pids = stack.pids
        assert pids is not None

        # Idle, with a retry scheduled before the outage: the first attempt gets a 421.
        stack.smtp.fail_next = 1
        retried = submit(stack, 1000)
        client = stack.redis.client()
        scheduled = rq_keys(client).scheduled
        assert wait_until(lambda: client.zcard(scheduled) == 1 and idle(stack), 20)
        client.close()
        outage(stack, OUTAGE)
        outages += 1
        assert not stack.dead(), f"after the idle outage: {stack.dead()} stopped"
        assert stack.redis.client().zcard(scheduled) == 1, "the scheduled retry was lost"
        assert delivered(stack, retried), "the retry scheduled before the outage never ran"
        assert delivered(stack, submit(stack, 1001)), "nothing delivered after the idle outage"

        # Mid-send: the relay holds DATA while Redis goes down and comes back.
        stack.smtp.hold_next()
        held = submit(stack, 1002)
        assert stack.smtp.held.wait(20), "the worker never sent DATA"
        outage(stack, OUTAGE)
        outages += 1
        stack.smtp.release()
        assert delivered(stack, held), "the message held mid-send was not delivered"
        assert not stack.dead(), f"after the mid-send outage: {stack.dead()} stopped"

        # Dequeuing: the parent holds the job it has just taken; Redis dies; the parent goes on.
        dequeued = Pause(pauses, "dequeued")
        dequeued.arm()
        taken = submit(stack, 1003)
        assert dequeued.reached(), "the worker never reached its 'dequeued' pause point"
        outage(stack, OUTAGE, while_down=dequeued.release)
        outages += 1
        assert delivered(stack, taken), "the message taken while Redis died was not delivered"
        assert not stack.dead(), f"after the dequeuing outage: {stack.dead()} stopped"

        # Between the relay's 250 and the record update: the job goes on into a dead Redis.
        sent_point = Pause(pauses, "sent")
        sent_point.arm()
        between = submit(stack, 1004)
        assert sent_point.reached(), "the job never reached its 'sent' pause point"
        outage(stack, OUTAGE, while_down=sent_point.release)
        outages += 1
        assert delivered(stack, between)
        assert stack.smtp.count(staff_message_id(between.submission_id or "")) == 1
        assert not stack.dead(), f"after the post-send outage: {stack.dead()} stopped"

        # Three more at random while 200 submissions flow (each outage in its own stretch).
        faults: dict[int, Callable[[], None]] = {}
        for low in (20, 80, 140):
            faults[rng.randrange(low, low + 40)] = functools.partial(
                outage, stack, rng.uniform(1.0, 3.0)
            )
        stack.report.notes.append(f"random outages before submissions {sorted(faults)}")
        stack.run_load(count=200, pause=0.1, faults=faults)
        outages += len(faults)
        stack.settle(stall=60, limit=120)
        report = stack.account()

        assert report.missing_record == [], "201 answers without a stored submission"
        assert report.missing_email == [], "201 answers without a staff email"
        assert report.duplicates == 0, f"{report.duplicates} messages sent twice"
        assert not stack.dead(), f"at the end: {stack.dead()} stopped"
        assert stack.find_pids() == pids, "a process of the stack was replaced"
        lines = stack.worker_lines()
        quitting = [line for line in lines if "quitting" in line]
        assert quitting == [], f"the worker logged {quitting}"
        said = [line for line in lines if DOWN in line or BACK in line]
        assert sum(DOWN in line for line in said) == outages, f"not one line per outage: {said}"
        assert sum(BACK in line for line in said) == outages, f"not one line per recovery: {said}"
        assert redis_retry_lines(lines) == [], "RQ logged its own reconnect attempts"
        assert_no_canary(stack.canaries, process_output(stack.logs))
    finally:
        stack.report.seconds = time.monotonic() - stack.started
        stack.report.notes.append(f"logs: {stack.output}")
        stack.down()


def redis_retry_lines(lines: list[str]) -> list[str]:
    """RQ's own lines about Redis errors (it logs one per attempt, and the scheduler a traceback)."""
    words = ("could not connect to Redis", "raised an exception", "Error 111")
    return [line for line in lines if any(w in line for w in words) and DOWN not in line]
