"""The real ``frontdesk worker`` process (forking RQ worker with its scheduler) against real Redis
and scriptable aiosmtpd relays: retries on the schedule, crash recovery after SIGKILL, a job that
is not JSON, start-time checks of the SMTP settings, and ``frontdesk health worker``.

Slow RQ mechanisms are shortened by settings (heartbeat, maintenance interval, retry base), never
skipped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from litestar.testing import TestClient
from rq import Queue
from rq.registry import FailedJobRegistry

from frontdesk.settings import load_settings
from frontdesk.submissions.keys import form_index_key
from frontdesk.submissions.record import Submission
from frontdesk.submissions.store import load_submission
from services.forms.app import create_app
from tests.conftest import ROOT, free_port
from tests.drills.harness import DrillRedis, wait_until
from tests.processes import FRONTDESK, start, stop
from tests.relay import Relay, running, self_signed, server_context
from tests.service.forms_helpers import VALID

pytestmark = pytest.mark.e2e
FAST = {
    "FRONTDESK_RETRY_BASE_SECONDS": "1",
    "FRONTDESK_WORKER_HEARTBEAT": "1",
    "FRONTDESK_WORKER_MAINTENANCE_INTERVAL": "1",
    "FRONTDESK_SMTP_TIMEOUT": "3",
    "FRONTDESK_RATE_LIMITS": "off",
}


class Workers:
    """``frontdesk worker`` processes, each in its own process group (worker, horse, scheduler)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.logs / f"worker-{len(self.processes)}.log"
        process = start([FRONTDESK, "worker", *args], dict(os.environ), log, new_session=True)
        self.processes.append(process)
        return process

    def log(self, index: int) -> str:
        return (self.logs / f"worker-{index}.log").read_text()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            stop(process, timeout=20, group=True)


@pytest.fixture
def relay() -> Relay:
    return Relay()


@pytest.fixture
def fast_env(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis
) -> pytest.MonkeyPatch:
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


@pytest.fixture
def smtp_port(fast_env: pytest.MonkeyPatch, relay: Relay) -> Iterator[int]:
    with running(relay) as port:
        fast_env.setenv("FRONTDESK_SMTP_PORT", str(port))
        yield port


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    running_workers = Workers(tmp_path)
    yield running_workers
    running_workers.stop()


def submit() -> str:
    with TestClient(create_app(load_settings())) as client:
        response = client.post("/v1/forms/contact/submissions", json=VALID)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def wait_for(
    connection: redis.Redis,
    submission_id: str,
    done: Callable[[Submission], bool],
    timeout: float,
) -> Submission:
    deadline = time.monotonic() + timeout
    while True:
        submission = load_submission(connection, submission_id)
        assert submission is not None
        if done(submission) or time.monotonic() > deadline:
            return submission
        time.sleep(0.2)


def staff_status(submission: Submission) -> str:
    state = submission.message("staff")
    assert state is not None
    return state.status


def test_451_twice_then_250_is_delivered_once_by_the_scheduler(
    smtp_port: int, relay: Relay, redis_client: redis.Redis, workers: Workers
) -> None:
    relay.data_replies += ["451 4.3.0 try again later", "451 4.3.0 try again later"]
    submission_id = submit()
    workers.start()

    # The retries have an interval, so they run only if the worker runs RQ's scheduler.
    record = wait_for(redis_client, submission_id, lambda s: staff_status(s) == "sent", 60)
    assert record.status == "notified"
    state = record.message("staff")
    assert state is not None
    assert (state.status, state.attempts) == ("sent", 3)
    assert relay.data_attempts == 3
    assert len(relay.accepted) == 1
    assert relay.messages()[0]["Message-ID"] == f"<{submission_id}.staff@clinic.example>"


def test_550_fails_at_once_and_stays_listed(
    smtp_port: int, relay: Relay, redis_client: redis.Redis, workers: Workers
) -> None:
    relay.data_replies.append("550 5.7.1 rejected by policy")
    submission_id = submit()
    workers.start()

    record = wait_for(redis_client, submission_id, lambda s: staff_status(s) == "failed", 30)
    assert record.status == "failed"
    state = record.message("staff")
    assert state is not None
    assert state.attempts == 1
    assert state.last_error is not None
    assert (state.last_error.code, state.last_error.text) == (550, "5.7.1 rejected by policy")
    assert redis_client.zcard("rq:scheduled:frontdesk") == 0
    assert redis_client.zscore(form_index_key("contact"), submission_id) is not None
    assert relay.accepted == []
    workers.stop()
    log = workers.log(0)
    assert f"submission {submission_id}: staff message failed permanently: 550" in log
    assert "ann@example.com" not in log


def test_worker_killed_during_data_is_recovered_and_sends_once(
    smtp_port: int, relay: Relay, redis_client: redis.Redis, workers: Workers
) -> None:
    relay.hold_next_data = True
    submission_id = submit()
    first = workers.start()
    assert relay.data_started.wait(30), workers.log(0)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    relay.release.set()

    workers.start()
    record = wait_for(redis_client, submission_id, lambda s: staff_status(s) == "sent", 180)
    assert staff_status(record) == "sent", workers.log(1)
    assert record.status == "notified"
    # Let the new worker run several more maintenance passes (and sweeps): still one email.
    time.sleep(4)
    assert len(relay.accepted) == 1
    assert relay.messages()[0]["Message-ID"] == f"<{submission_id}.staff@clinic.example>"


def test_job_that_is_not_json_fails_cleanly_and_the_worker_goes_on(
    smtp_port: int, relay: Relay, redis_client: redis.Redis, workers: Workers
) -> None:
    # What a pickle-based producer (RQ's default serializer) writes.
    Queue("frontdesk", connection=redis_client).enqueue(
        "worker.jobs.send_message", "0123", "staff", job_id="pickled-job"
    )
    submission_id = submit()
    process = workers.start("--burst")
    assert process.wait(timeout=60) == 0

    log = workers.log(0)
    assert "job pickled-job on queue frontdesk is not valid JSON" in log
    assert "pickled-job" in FailedJobRegistry("frontdesk", connection=redis_client).get_job_ids()
    assert redis_client.llen("rq:queue:frontdesk:intermediate") == 0
    record = load_submission(redis_client, submission_id)
    assert record is not None
    assert record.status == "notified"
    assert len(relay.accepted) == 1


def test_port_465_without_tls_stops_the_worker(
    fast_env: pytest.MonkeyPatch, workers: Workers
) -> None:
    fast_env.setenv("FRONTDESK_SMTP_PORT", "465")
    fast_env.setenv("FRONTDESK_SMTP_SECURITY", "starttls")
    process = workers.start()
    assert process.wait(timeout=30) == 2
    log = workers.log(0)
    assert "FRONTDESK_SMTP_PORT" in log
    assert "FRONTDESK_SMTP_SECURITY" in log


def test_tls_against_a_plain_relay_stops_the_worker(
    smtp_port: int, fast_env: pytest.MonkeyPatch, workers: Workers
) -> None:
    fast_env.setenv("FRONTDESK_SMTP_SECURITY", "tls")
    process = workers.start()
    assert process.wait(timeout=30) == 2
    assert "does not speak FRONTDESK_SMTP_SECURITY=tls" in workers.log(0)


def test_starttls_relay_with_an_unknown_ca_stops_the_worker(
    fast_env: pytest.MonkeyPatch, relay: Relay, workers: Workers, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    tls = server_context(cert, key)
    with running(relay, tls_context=tls, require_starttls=True) as port:
        fast_env.setenv("FRONTDESK_SMTP_PORT", str(port))
        fast_env.setenv("FRONTDESK_SMTP_SECURITY", "starttls")
        process = workers.start()
        assert process.wait(timeout=30) == 2
    assert "set FRONTDESK_SMTP_CA_FILE" in workers.log(0)


def test_health_worker_follows_the_worker_heartbeat(
    smtp_port: int, workers: Workers, redis_client: redis.Redis
) -> None:
    def health() -> int:
        command = [FRONTDESK, "health", "worker"]
        return subprocess.run(command, cwd=ROOT, capture_output=True, check=False).returncode

    assert health() == 1
    workers.start()
    deadline = time.monotonic() + 30
    while health() != 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert health() == 0
    workers.stop()
    assert health() == 1


def test_a_worker_loop_ended_by_an_error_exits_non_zero(
    smtp_port: int, redis_client: redis.Redis, workers: Workers
) -> None:
    # A queue key of the wrong type: BLMOVE answers WRONGTYPE, which RQ's loop does not handle.
    redis_client.set("rq:queue:frontdesk", "not a list")
    process = workers.start()
    assert process.wait(timeout=60) == 1, "the supervisor would not restart a worker exiting 0"
    log = workers.log(0)
    assert "found an unhandled exception, quitting" in log
    assert "frontdesk worker: the worker stopped on an error (logged above); exit status 1" in log


def test_health_worker_passes_while_redis_is_unreachable(env: dict[str, str]) -> None:
    # A liveness probe that fails during a Redis outage would restart workers that are only waiting
    # for Redis (and restarting them does not bring Redis back).
    closed = f"redis://127.0.0.1:{free_port()}/0"
    command = [FRONTDESK, "health", "worker"]
    environ = {**os.environ, "FRONTDESK_REDIS_URL": closed}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, env=environ, check=False)
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert b"Redis unreachable" in done.stdout
    assert b"Traceback" not in done.stderr


@pytest.fixture
def private_redis(
    smtp_port: int, fast_env: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[DrillRedis]:
    """A ``redis-server`` of the test's own (AOF, a free port) that it may kill; the worker's Redis."""
    private = DrillRedis(tmp_path / "redis")
    private.start()
    fast_env.setenv("FRONTDESK_REDIS_URL", private.url)
    yield private
    private.kill()


def test_worker_registers_again_when_its_hash_expired_during_an_outage(
    private_redis: DrillRedis, workers: Workers, tmp_path: Path
) -> None:
    # The worker's hash lives worker_ttl + 60 s: an outage longer than that lets Redis expire it when
    # it restarts. Made exact here: Redis comes back on a unix socket only, the hash is deleted, and
    # then Redis listens on its port again, so the worker's first command after the outage finds it
    # gone.
    environ = dict(os.environ)

    def health() -> int:
        command = [FRONTDESK, "health", "worker"]
        return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True).returncode

    workers.start()
    assert wait_until(lambda: health() == 0, 30), "the worker never became healthy"
    (worker_key,) = private_redis.client().smembers("rq:workers")
    private_redis.kill()
    socket_path = tmp_path / "redis.sock"
    argv = ["redis-server", "--port", "0", "--unixsocket", str(socket_path)]
    argv += ["--dir", str(private_redis.directory), "--appendonly", "yes", "--save", ""]
    private_redis.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    local = redis.Redis(unix_socket_path=str(socket_path))

    def answers() -> bool:
        try:
            return bool(local.ping())
        except redis.RedisError:
            return False

    assert wait_until(answers, 15)
    assert local.delete(worker_key) == 1
    local.config_set("port", str(private_redis.port))
    assert wait_until(lambda: health() == 0, 30), "the worker did not register again"


def test_sigterm_during_a_redis_outage_stops_the_worker_promptly(
    private_redis: DrillRedis, workers: Workers
) -> None:
    process = workers.start()
    client = private_redis.client()
    assert wait_until(lambda: bool(client.smembers("rq:workers")), 30)
    private_redis.kill()
    assert wait_until(lambda: "Redis unreachable" in workers.log(0), 15)
    began = time.monotonic()
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert time.monotonic() - began < 10, "the stop waited for Redis"
    log = workers.log(0)
    assert "stopped while Redis was unreachable" in log
    assert "Traceback" not in log
    assert "could not connect to Redis instance" not in log, "RQ's own line per attempt"


def test_sigterm_while_the_start_waits_for_redis_stops_the_worker(
    private_redis: DrillRedis, workers: Workers
) -> None:
    # Redis is down before the worker registers: its start waits for Redis (riding the outage out),
    # and a stop then is a stop (exit 0), not the end of the process by the signal.
    private_redis.kill()
    process = workers.start()
    assert wait_until(lambda: "Redis unreachable" in workers.log(0), 30)
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 0, workers.log(0)
    assert "worker stopped while starting" in workers.log(0)
    assert "Traceback" not in workers.log(0)
