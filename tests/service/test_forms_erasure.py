"""Erasure and deletion reach every copy of a submission in Redis: the record and its index entry
wherever its form went, the duplicate and idempotency claims, and the RQ jobs with their
registries and failure tracebacks. Real Redis, real aiosmtpd relay, RQ's own worker.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import threading
import time
import traceback
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from litestar.testing import TestClient
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import (
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
)
from rq.results import Result
from rq.serializers import JSONSerializer

from frontdesk.submissions.keys import form_index_key, job_id, submission_key
from frontdesk.submissions.store import SubmissionStore
from tests.conftest import TEST_REDIS_URL
from tests.relay import Relay, running
from tests.service.forms_helpers import URL, VALID, ClientFactory, form_yaml, make_client

__all__ = ["make_client"]

TOKEN = "erasure-test-token-0123456789abcdefghij"
STAFF = {"authorization": f"Bearer {TOKEN}"}
STAFF_ENV = {"staff_tokens": f"alice:{TOKEN}", "rate_limits": "off"}

# The visitor's data, unique enough to find anywhere in Redis.
CANARY = {
    "name": "Quillon Vexmarch",
    "email": "quillon.vexmarch@vexmarch-canary.example",
    "phone": "+44 20 7946 0958",
    "message": "Zarnathic knee pain since Tuesday",
}
CANARY_TEXTS = [
    b"quillon",
    b"vexmarch",
    b"+442079460958",
    b"20 7946 0958",
    b"zarnathic",
]
VISIT_FORM = form_yaml(
    "visit",
    """
allowed_origins: ["https://clinic.example"]
spam: {min_fill_seconds: 0}
auto_reply:
  subject: "We got your message"
  body: "Thanks for writing."
""",
)


def _values(connection: redis.Redis, key: bytes) -> list[bytes]:
    """Every value stored under ``key``, whatever its type (hash fields and values, list,
    set and sorted set members, stream entries).
    """
    kind = connection.type(key)
    if kind == b"string":
        return [connection.get(key) or b""]
    if kind == b"hash":
        return [part for item in connection.hgetall(key).items() for part in item]
    if kind == b"list":
        return list(connection.lrange(key, 0, -1))
    if kind == b"set":
        return list(connection.smembers(key))
    if kind == b"zset":
        return list(connection.zrange(key, 0, -1))
    if kind == b"stream":
        return [
            part for _, entry in connection.xrange(key) for item in entry.items() for part in item
        ]
    return []


def _decoded(value: bytes) -> Iterator[bytes]:
    """``value`` and what it may encode: RQ keeps a job's ``data`` zlib-compressed and a
    result's ``exc_string`` and ``return_value`` as base64 of (compressed) text.
    """
    yield value
    for raw in (value, _unbase64(value)):
        with contextlib.suppress(zlib.error):
            yield zlib.decompress(raw)
    yield _unbase64(value)


def _unbase64(value: bytes) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        return b""


def _everything(connection: redis.Redis) -> Iterator[tuple[bytes, bytes]]:
    """``(key, text)`` for every key of the test database and each of its values, decoded as
    :func:`_decoded` does, lower-cased.
    """
    for key in connection.scan_iter(count=1000):
        yield key, key.lower()
        for value in _values(connection, key):
            for text in _decoded(value):
                yield key, text.lower()


def _holding(connection: redis.Redis, needles: list[bytes]) -> set[bytes]:
    """Keys whose name or any value contains one of ``needles``."""
    return {key for key, text in _everything(connection) if any(n in text for n in needles)}


def _claims_of(connection: redis.Redis, submission_id: str) -> list[bytes]:
    """Duplicate and idempotency claim keys whose value names ``submission_id``."""
    keys = [
        *connection.scan_iter(match="frontdesk:idem:*"),
        *connection.scan_iter(match="frontdesk:dup:*"),
    ]
    return [k for k in keys if (connection.get(k) or b"").startswith(submission_id.encode())]


def _post(client: TestClient, url: str = URL, **kwargs: object) -> str:  # type: ignore[type-arg]
    response = client.post(url, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _clients(make_client: ClientFactory, **variables: Any) -> tuple[TestClient, TestClient]:  # type: ignore[type-arg]
    """``(public, staff)``: the app visitors post to, and the internal one serving the staff API."""
    public = make_client(**variables, **STAFF_ENV)
    return public, make_client(staff=True, **variables, **STAFF_ENV)


def _erase(staff: TestClient, email: str) -> int:  # type: ignore[type-arg]
    response = staff.post("/v1/erasures", json={"email": email}, headers=STAFF)
    assert response.status_code == 200, response.text
    return int(response.json()["erased"])


def test_erasure_reaches_the_records_of_a_form_no_longer_defined(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    before, _ = _clients(make_client, forms={"retired": form_yaml("retired")})
    retired = _post(before, "/v1/forms/retired/submissions", json=VALID)
    current = _post(before, json=VALID)
    # The editor removes the form from the site; the service runs on the new site directory.
    after, staff = _clients(make_client)
    assert after.get("/v1/forms/retired").status_code == 404

    assert _erase(staff, "Ann@Example.com") == 2
    assert redis_client.get(submission_key(retired)) is None
    assert redis_client.get(submission_key(current)) is None
    assert redis_client.zscore(form_index_key("retired"), retired) is None
    assert redis_client.zscore(form_index_key("contact"), current) is None
    assert _holding(redis_client, [b"ann@example.com", b"knee pain"]) == set()


@pytest.mark.parametrize("idempotency_key", [None, "visit-2026-12-05"], ids=["plain", "idem"])
@pytest.mark.parametrize("action", ["erasure", "delete"])
def test_identical_repost_after_erasure_or_delete_is_stored_at_once(
    make_client: ClientFactory,
    redis_client: redis.Redis,
    action: str,
    idempotency_key: str | None,
) -> None:
    client, staff = _clients(make_client)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    first = _post(client, json=VALID, headers=headers)
    assert _claims_of(redis_client, first)
    if action == "erasure":
        assert _erase(staff, VALID["email"]) == 1
    else:
        assert staff.delete(f"/v1/submissions/{first}", headers=STAFF).status_code == 204
    assert _claims_of(redis_client, first) == []

    started = time.monotonic()
    again = client.post(URL, json=VALID, headers=headers)
    elapsed = time.monotonic() - started
    assert (again.status_code, elapsed < 2) == (201, True), (again.text, elapsed)
    second = again.json()["id"]
    assert second != first
    assert _claims_of(redis_client, first) == []
    assert redis_client.get(submission_key(second)) is not None
    # Its own claims now answer a replay with the new id, at once.
    assert _post(client, json=VALID, headers=headers) == second


def test_a_claim_whose_record_vanished_is_taken_over_at_once(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client, _ = _clients(make_client)
    headers = {"Idempotency-Key": "visit-evicted"}
    first = _post(client, json=VALID, headers=headers)
    # The record alone goes (a Redis set to evict under maxmemory, or a claim left by an older
    # release): its claims are stale, and the identical post is stored anew.
    redis_client.delete(submission_key(first))
    started = time.monotonic()
    again = client.post(URL, json=VALID, headers=headers)
    elapsed = time.monotonic() - started
    assert (again.status_code, elapsed < 2) == (201, True), (again.text, elapsed)
    assert again.json()["id"] != first
    assert _claims_of(redis_client, first) == []


def _registries(connection: redis.Redis) -> list[list[str]]:
    """The job ids of every registry of the queue, read with RQ's own API."""
    queue = Queue("frontdesk", connection=connection, serializer=JSONSerializer)
    registries = [
        queue.started_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.scheduled_job_registry,
        queue.deferred_job_registry,
        queue.canceled_job_registry,
        queue.ready_job_registry,
    ]
    return [registry.get_job_ids() for registry in registries]


def test_erasure_deletes_the_jobs_registry_entries_and_tracebacks_of_a_failed_delivery(
    make_client: ClientFactory,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay = Relay()
    # The visitor's mail server is full: its relay refuses the auto-reply naming the address.
    relay.rcpt_replies[CANARY["email"]] = f"450 4.2.2 <{CANARY['email']}>: mailbox full"
    with running(relay) as port:
        monkeypatch.setenv("FRONTDESK_SMTP_TIMEOUT", "3")
        client, staff = _clients(make_client, forms={"visit": VISIT_FORM}, smtp_port=str(port))
        visit = "/v1/forms/visit/submissions"
        origin = {"origin": "https://clinic.example"}

        def visitor_post(message: str) -> str:
            token = client.get("/v1/forms/visit").json()["token"]
            body = {**CANARY, "message": message, "_token": token}
            return _post(client, visit, json=body, headers=origin)

        scheduled = visitor_post(CANARY["message"])
        failed = visitor_post(CANARY["message"] + " and Wednesday")
        other = _post(client, json={**VALID, "email": "bob@example.com"})

        queue = Queue("frontdesk", connection=redis_client, serializer=JSONSerializer)
        tracebacks: dict[str, str] = {}

        def keep(job: Job, *exc_info: Any) -> bool:
            tracebacks[job.id] = "".join(traceback.format_exception(*exc_info))
            return True

        worker = SimpleWorker([queue], connection=redis_client, serializer=JSONSerializer)
        worker.push_exc_handler(keep)
        worker.work(burst=True)
        relay.wait(3)

    # The refused auto-replies raised (a transient refusal): RQ scheduled their retries.
    refused = [job_id(scheduled, "auto_reply"), job_id(failed, "auto_reply")]
    assert sorted(tracebacks) == sorted(refused)
    assert set(ScheduledJobRegistry(queue=queue).get_job_ids()) == set(refused)
    # The second one then ends without retries left (its last attempt, or the worker's Redis
    # blinking while it recorded the refusal): RQ keeps the job's traceback in its hash, the
    # failed registry and its results stream, as rq's Worker.handle_job_failure does.
    job = Job.fetch(refused[1], connection=redis_client, serializer=JSONSerializer)
    ScheduledJobRegistry(queue=queue).remove(job)
    job.set_status(JobStatus.FAILED)
    FailedJobRegistry(queue=queue).add(job, ttl=86400, exc_string=tracebacks[refused[1]])
    Result.create_failure(job, 86400, exc_string=tracebacks[refused[1]])
    assert refused[1] in FailedJobRegistry(queue=queue).get_job_ids()
    latest = job.latest_result()
    assert latest is not None
    assert "DeliveryError" in (latest.exc_string or "")
    assert {b"rq:results:" + refused[1].encode()} <= _holding(redis_client, [b"deliveryerror"])

    assert _erase(staff, CANARY["email"].upper()) == 2

    assert _holding(redis_client, CANARY_TEXTS) == set()
    erased = [scheduled, failed]
    ids = [job_id(s, kind) for s in erased for kind in ("staff", "auto_reply")]
    for gone in ids:
        assert not Job.exists(gone, connection=redis_client)
        assert Result.count(Job(gone, connection=redis_client)) == 0
    assert all(gone not in registry for registry in _registries(redis_client) for gone in ids)
    assert _holding(redis_client, [s.encode() for s in erased]) == set()
    # Another person's submission and its job are untouched.
    assert redis_client.get(submission_key(other)) is not None
    assert Job.exists(job_id(other, "staff"), connection=redis_client)
    assert job_id(other, "staff") in FinishedJobRegistry(queue=queue).get_job_ids()


def test_erasure_can_be_limited_to_some_forms(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client, _ = _clients(make_client, forms={"other": form_yaml("other")})
    contact = _post(client, json=VALID)
    other = _post(client, "/v1/forms/other/submissions", json=VALID)
    store = SubmissionStore(redis.Redis.from_url(TEST_REDIS_URL), "frontdesk", [60], 60)

    assert store.erase(VALID["email"], forms={"other"}) == [other]
    assert redis_client.get(submission_key(other)) is None
    assert redis_client.get(submission_key(contact)) is not None
    assert store.erase(VALID["email"], forms=set()) == []
    assert store.erase(VALID["email"]) == [contact]


def test_erasure_while_the_message_is_being_sent_leaves_no_visitor_data(
    make_client: ClientFactory, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = Relay()
    relay.hold_next_data = True  # the relay holds DATA, then answers 451
    erased: list[str] = []

    def erase_during_the_send() -> None:
        if relay.data_started.wait(15):
            store = SubmissionStore(redis.Redis.from_url(TEST_REDIS_URL), "frontdesk", [60], 60)
            erased.extend(store.erase(CANARY["email"]))
        relay.release.set()

    with running(relay) as port:
        monkeypatch.setenv("FRONTDESK_SMTP_TIMEOUT", "10")
        client, _ = _clients(make_client, smtp_port=str(port))
        submission_id = _post(client, json=CANARY)
        eraser = threading.Thread(target=erase_during_the_send)
        eraser.start()
        queue = Queue("frontdesk", connection=redis_client, serializer=JSONSerializer)
        # RQ's worker in this (the main) thread: it installs signal handlers.
        SimpleWorker([queue], connection=redis_client, serializer=JSONSerializer).work(burst=True)
        eraser.join(20)

    assert erased == [submission_id]
    assert relay.accepted == []
    assert _holding(redis_client, CANARY_TEXTS) == set()
    assert redis_client.get(submission_key(submission_id)) is None
