"""Redis behind Sentinel and the replicated acknowledgement, with real ``redis-server`` processes:
Frontdesk's clients follow a failover, the worker's scheduler keeps scheduling on the new primary,
and with ``FRONTDESK_REDIS_MIN_REPLICAS`` a submission is 201 only once a replica holds it (503
``not_replicated`` otherwise, and the visitor's retry is answered with the same submission).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from litestar.testing import TestClient
from redis.sentinel import SentinelConnectionPool
from rq import Queue
from rq.serializers import JSONSerializer

from frontdesk.redis import connect, connect_async
from frontdesk.settings import load_settings
from frontdesk.submissions.keys import submission_key
from services.forms.app import create_app
from tests.conftest import CLINIC_SITE, free_port
from tests.drills.harness import wait_until
from tests.drills.sentinels import MASTER, Node, Topology
from tests.processes import FRONTDESK, frontdesk_env, start, stop
from tests.service.forms_helpers import URL, VALID
from worker.main import FrontdeskScheduler, build_worker
from worker.outage import RedisWatch, RideOut

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    """A primary, one replica and one sentinel (quorum 1), running."""
    nodes = Topology(tmp_path, replicas=1, sentinels=1, quorum=1)
    try:
        nodes.up()
        yield nodes
    finally:
        nodes.down()


def _fail_over(topology: Topology) -> Node:
    """Wait until the replica holds every write, SIGKILL the primary, return the promoted node."""
    old = topology.primary()
    assert old is not None
    client = old.client()
    assert client.wait(1, 5000) == 1
    client.close()
    old.kill()
    assert wait_until(lambda: topology.primary() not in (old, None), 30), "no failover"
    new = topology.primary()
    assert new is not None
    return new


def _env(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    for key in list(os.environ):
        if key.startswith("FRONTDESK_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(CLINIC_SITE))
    for key, value in variables.items():
        monkeypatch.setenv(key, value)


def test_clients_find_the_primary_and_follow_a_failover(
    topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(monkeypatch, topology.settings(db=3))
    settings = load_settings()
    sync = connect(settings)
    assert isinstance(sync.connection_pool, SentinelConnectionPool)
    sync.set("before", "1")
    assert topology.nodes[0].client().get("before") is None  # db 3, not db 0
    assert topology.nodes[0].client(db=3).get("before") == b"1"

    async def write(key: str) -> object:
        client = connect_async(settings)
        try:
            await client.set(key, "1")
            return await client.get(key)
        finally:
            await client.aclose()

    assert asyncio.run(write("async-before")) == b"1"
    new = _fail_over(topology)

    def written() -> bool:
        try:
            return bool(sync.set("after", "1"))
        except redis.ConnectionError:
            return False  # the old primary's connection fails once, then the pool asks again

    assert wait_until(written, 20)
    assert new.client(db=3).get("after") == b"1"
    assert new.client(db=3).get("before") == b"1"
    assert asyncio.run(write("async-after")) == b"1"
    assert new.client(db=3).get("async-after") == b"1"


def test_the_worker_scheduler_schedules_on_the_promoted_primary(
    topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(monkeypatch, topology.settings(db=2))
    settings = load_settings()
    worker = build_worker(settings)
    queue = Queue(settings.queue_name, connection=worker.connection, serializer=JSONSerializer)
    due = queue.enqueue_at(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1), "os.getpid")
    new = _fail_over(topology)
    # Burst mode runs the scheduler in this process: locks, one pass over the due jobs, release.
    worker._start_scheduler(burst=True)
    scheduler = worker.scheduler
    assert isinstance(scheduler, FrontdeskScheduler)
    # Its client is Frontdesk's Sentinel client, not RQ's rebuild of the worker's pool's arguments.
    assert isinstance(scheduler.connection.connection_pool, SentinelConnectionPool)
    assert scheduler.connection is not worker.connection
    promoted = new.client(db=2)
    assert promoted.lrange(queue.key, 0, -1) == [due.id.encode()]
    assert promoted.zcard(queue.scheduled_job_registry.key) == 0


@pytest.fixture
def lone_primary(tmp_path: Path) -> Iterator[Node]:
    node = Node(tmp_path / "primary")
    node.start()
    try:
        yield node
    finally:
        node.kill()


def test_without_replicas_a_submission_is_503_and_its_retry_is_the_same_submission(
    lone_primary: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(
        monkeypatch,
        {
            "FRONTDESK_REDIS_URL": f"redis://127.0.0.1:{lone_primary.port}/0",
            "FRONTDESK_REDIS_MIN_REPLICAS": "1",
            "FRONTDESK_REDIS_MIN_REPLICAS_TIMEOUT_MS": "200",
        },
    )
    primary = lone_primary.client()
    replica = Node(tmp_path / "replica", replica_of=lone_primary.port)
    with TestClient(create_app(load_settings())) as client:
        keyed = client.post(URL, json=VALID, headers={"Idempotency-Key": "visit-1"})
        assert keyed.status_code == 503
        assert keyed.headers["Retry-After"] == "2"
        assert keyed.json()["code"] == "not_replicated"
        # Stored on the primary, and its email queued once, but not acknowledged.
        ids = primary.zrange("frontdesk:form:contact:submissions", 0, -1)
        assert len(ids) == 1
        first = ids[0].decode()
        assert primary.lrange("rq:queue:frontdesk", 0, -1) == [f"{first}-staff".encode()]

        replica.start()
        try:
            assert wait_until(
                lambda: replica.client().info("replication")["master_link_status"] == "up", 20
            )
            # The primary counts it as a replica once it is online there too.
            assert wait_until(
                lambda: primary.info("replication").get("slave0", {}).get("state") == "online", 20
            )
            # The visitor's retry (same key) and a second identical post (the duplicate rule). A
            # replica that just came online may miss one 200-ms WAIT: the visitor's client sends
            # again shortly, as the 503 asks; every retry is the same submission.
            again = client.post(URL, json=VALID, headers={"Idempotency-Key": "visit-1"})
            deadline = time.monotonic() + 10
            while again.status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.2)
                again = client.post(URL, json=VALID, headers={"Idempotency-Key": "visit-1"})
            assert again.status_code == 201, again.text
            assert again.json()["id"] == first
            same = client.post(URL, json=VALID)
            assert same.status_code == 201
            assert same.json()["id"] == first
            assert replica.client().exists(submission_key(first)) == 1
        finally:
            replica.kill()
        assert primary.zcard("frontdesk:form:contact:submissions") == 1
        assert primary.lrange("rq:queue:frontdesk", 0, -1) == [f"{first}-staff".encode()]

        # A replica that stops acknowledging: a new submission is 503 again, never 201.
        other = client.post(URL, json={**VALID, "message": "Shoulder pain"})
        assert other.status_code == 503
        assert other.json()["code"] == "not_replicated"


def test_with_a_replica_a_submission_is_201_after_it_holds_the_record(
    lone_primary: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replica = Node(tmp_path / "replica", replica_of=lone_primary.port)
    replica.start()
    try:
        assert wait_until(
            lambda: replica.client().info("replication")["master_link_status"] == "up", 20
        )
        _env(
            monkeypatch,
            {
                "FRONTDESK_REDIS_URL": f"redis://127.0.0.1:{lone_primary.port}/0",
                "FRONTDESK_REDIS_MIN_REPLICAS": "1",
            },
        )
        with TestClient(create_app(load_settings())) as client:
            answer = client.post(URL, json=VALID)
        assert answer.status_code == 201
        # WAIT returned only once the replica acknowledged: it holds the record now.
        assert replica.client().exists(submission_key(answer.json()["id"])) == 1
    finally:
        replica.kill()


def test_the_worker_stops_at_once_on_sigterm_behind_sentinel(
    topology: Topology, tmp_path: Path
) -> None:
    """SIGTERM interrupts the worker's blocking ``BLMOVE``; the connection it was read on must be
    closed, not pooled with the answer still to come (the next command, the worker's death
    registration, would read that answer after the wait: ``ResponseError``, 30 s later)."""
    env = frontdesk_env(
        {
            **topology.settings(db=4),
            "FRONTDESK_SITE_DIR": str(CLINIC_SITE),
            "FRONTDESK_SMTP_PORT": str(free_port()),  # nothing listens: the worker starts anyway
            "FRONTDESK_LOG_FORMAT": "text",
        }
    )
    log = tmp_path / "worker.log"
    worker = start([FRONTDESK, "worker"], env, log)
    try:
        client = topology.nodes[0].client(db=4)
        assert wait_until(lambda: client.scard("rq:workers") == 1, 30), log.read_text()
        time.sleep(1.0)  # into its BLMOVE
        began = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
        assert time.monotonic() - began < 10
    finally:
        stop(worker)
    output = log.read_text()
    assert "unreachable" not in output, output
    assert client.scard("rq:workers") == 0, "the worker did not register its death"


def test_after_a_demotion_clients_reconnect_to_the_new_primary(
    topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SENTINEL FAILOVER``: the old primary runs on as a replica (``READONLY``). The worker's
    client retries a failed command on the same connection until Redis answers; it must reconnect to
    the primary the sentinels name, not to the last address (redis-py reconnects there by itself).
    The forms service's asyncio client too."""
    _env(monkeypatch, {**topology.settings(db=5), "FRONTDESK_REDIS_MIN_REPLICAS": "0"})
    settings = load_settings()
    ride_out = RideOut(RedisWatch(), cap=0.5)
    worker_client = connect(settings, socket_timeout=None, retry=ride_out)
    taken: list[bytes] = []

    def worker_loop() -> None:  # the worker's wait on its queue, across the failover
        while not taken and not ride_out.giving_up:
            item = worker_client.blmove("queue", "taken", 1, "LEFT", "RIGHT")
            if item is not None:
                taken.append(item)

    waiting = threading.Thread(target=worker_loop)
    with TestClient(create_app(settings)) as forms:
        assert forms.post(URL, json=VALID).status_code == 201
        waiting.start()
        time.sleep(0.5)  # blocked in BLMOVE on the primary
        old = topology.primary()
        sentinel = topology.sentinels[0].client()
        assert sentinel.execute_command("SENTINEL", "FAILOVER", MASTER) == b"OK"
        assert wait_until(lambda: topology.primary() not in (old, None), 30), "no failover"
        new = topology.primary()
        assert new is not None
        assert old is not None
        assert wait_until(lambda: old.client().info("replication")["role"] == "slave", 30)
        new.client(db=5).rpush("queue", "job")
        waiting.join(15)
        if waiting.is_alive():
            ride_out.give_up()  # its next attempt raises: the thread ends
            waiting.join(10)
        assert taken == [b"job"], "the worker's client kept retrying the demoted primary"

        def accepted() -> bool:
            return forms.post(URL, json={**VALID, "message": "After"}).status_code == 201

        assert wait_until(accepted, 15, interval=0.5)
