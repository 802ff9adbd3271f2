"""The store writes RQ jobs itself (frontdesk/submissions/rqjob.py): they must be exactly what RQ's own
``Queue.enqueue_many`` writes for the same submission, key by key and field by field (timestamps
apart), so that an RQ upgrade that changes the format fails here rather than in the worker.
"""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Any

import pytest
import redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer
from rq.utils import utcformat, utcparse

from frontdesk.settings import Settings
from frontdesk.submissions.keys import job_id
from frontdesk.submissions.queueing import RESULT_TTL, SEND_JOB, retry_schedule
from frontdesk.submissions.record import MessageKind, MessageState, Submission
from frontdesk.submissions.store import SubmissionStore
from tests.conftest import TEST_REDIS_URL
from tests.storing import store_submission
from worker.sweep import sweep

QUEUE = "frontdesk"
RETRY = retry_schedule(60, 24)
TIMEOUT = 180
RETENTION_DAYS = 90
TIMESTAMPS = {b"created_at", b"enqueued_at"}


def _submission(kinds: list[MessageKind]) -> Submission:
    return Submission(
        id="0190abcdef0123456789abcdef",
        form="contact",
        status="received",
        created_at=dt.datetime.now(dt.UTC),
        fields={"name": "Ann Example", "email": "ann@example.com"},
        request_id="req-1",
        messages=[MessageState(kind=kind) for kind in kinds],
    )


def _rq_enqueue(
    connection: redis.Redis, submission: Submission, kinds: list[MessageKind], failure_ttl: int
) -> None:
    """The reference: RQ's own enqueue of the jobs, inside a ``MULTI`` as the store used to."""
    queue = Queue(QUEUE, connection=connection, serializer=JSONSerializer)
    jobs = [
        Queue.prepare_data(
            SEND_JOB,
            args=(submission.id, kind),
            job_id=job_id(submission.id, kind),
            timeout=TIMEOUT,
            result_ttl=RESULT_TTL,
            failure_ttl=failure_ttl,
            retry=Retry(max=len(RETRY), interval=RETRY),
            meta={"request_id": submission.request_id},
        )
        for kind in kinds
    ]
    with connection.pipeline(transaction=True) as pipe:
        pipe.multi()
        queue.enqueue_many(jobs, pipeline=pipe)
        pipe.execute()


def _rq_keys(connection: redis.Redis) -> dict[bytes, Any]:
    """Every ``rq:*`` key: its type, TTL and contents (a hash without its timestamps, which are
    checked to be RQ timestamps of now, and with its ``data`` decompressed: the store frames it as
    a stored zlib block, which RQ's ``zlib.decompress`` reads like its own ``zlib.compress``)."""
    found: dict[bytes, Any] = {}
    for key in sorted(connection.keys("rq:*")):
        kind = connection.type(key)
        if kind == b"hash":
            fields: dict[bytes, bytes] = connection.hgetall(key)  # type: ignore[assignment]
            for name in TIMESTAMPS:
                text = fields.pop(name).decode()
                stamp = utcparse(text)
                assert utcformat(stamp) == text  # RQ's own format, to the character
                assert abs(dt.datetime.now(dt.UTC) - stamp) < dt.timedelta(minutes=1)
            fields[b"data"] = zlib.decompress(fields[b"data"])
            value: Any = fields
        elif kind == b"list":
            value = connection.lrange(key, 0, -1)
        elif kind == b"set":
            value = connection.smembers(key)
        else:
            raise AssertionError(f"unexpected {kind!r} at {key!r}")
        found[key] = (kind, connection.ttl(key), value)
    return found


@pytest.mark.parametrize(
    "kinds", [["staff"], ["staff", "auto_reply", "webhook"]], ids=["staff", "three"]
)
def test_submission_jobs_are_what_rq_writes(
    redis_client: redis.Redis, kinds: list[MessageKind]
) -> None:
    submission = _submission(kinds)
    _rq_enqueue(redis_client, submission, kinds, RETENTION_DAYS * 86400)
    expected = _rq_keys(redis_client)
    assert len(expected) == 2 + len(kinds)  # rq:queues, the queue, a hash per job
    redis_client.flushdb()
    store = SubmissionStore(redis_client, QUEUE, RETRY, TIMEOUT)
    store_submission(TEST_REDIS_URL, store, submission, RETENTION_DAYS, kinds)
    assert _rq_keys(redis_client) == expected
    assert redis_client.zscore(
        "frontdesk:form:contact:submissions", submission.id
    ) == pytest.approx(submission.created_at.timestamp() * 1000)
    assert 0 < redis_client.ttl(f"frontdesk:submission:{submission.id}") <= RETENTION_DAYS * 86400


def test_resent_jobs_are_what_rq_writes(redis_client: redis.Redis) -> None:
    """Staff resend (a ``WATCH``/``MULTI`` transaction) writes the same job as RQ, its failure
    kept as long as the record is left to live."""
    submission = _submission(["staff"])
    store = SubmissionStore(redis_client, QUEUE, RETRY, TIMEOUT)
    store_submission(TEST_REDIS_URL, store, submission, RETENTION_DAYS, [])
    assert redis_client.keys("rq:*") == []  # no job without a message kind
    store.queue_messages(submission.id, ["staff"], release=False)
    written = _rq_keys(redis_client)
    job = written[f"rq:job:{submission.id}-staff".encode()][2]
    failure_ttl = int(job[b"failure_ttl"])
    assert RETENTION_DAYS * 86400 - 5 < failure_ttl <= RETENTION_DAYS * 86400
    redis_client.delete(*redis_client.keys("rq:*"))
    _rq_enqueue(redis_client, submission, ["staff"], failure_ttl)
    assert written == _rq_keys(redis_client)


def test_quarantined_submission_has_no_job(redis_client: redis.Redis) -> None:
    submission = _submission([])
    store = SubmissionStore(redis_client, QUEUE, RETRY, TIMEOUT)
    store_submission(TEST_REDIS_URL, store, submission, RETENTION_DAYS, [])
    assert redis_client.keys("rq:*") == []
    assert redis_client.exists(f"frontdesk:submission:{submission.id}")


def test_swept_jobs_are_what_rq_writes(redis_client: redis.Redis) -> None:
    """The sweep enqueues a lost job again through the same path as a resend: RQ's own job,
    with the full retry schedule, its failure kept as long as the record."""
    submission = _submission(["staff"])
    store = SubmissionStore(redis_client, QUEUE, RETRY, TIMEOUT)
    store_submission(TEST_REDIS_URL, store, submission, RETENTION_DAYS, ["staff"])
    redis_client.delete(*redis_client.keys("rq:*"))  # the job is lost
    assert sweep(redis_client, Settings(queue_name=QUEUE, job_timeout=TIMEOUT)) == 1
    written = _rq_keys(redis_client)
    job = written[f"rq:job:{submission.id}-staff".encode()][2]
    failure_ttl = int(job[b"failure_ttl"])
    assert RETENTION_DAYS * 86400 - 5 < failure_ttl <= RETENTION_DAYS * 86400
    redis_client.delete(*redis_client.keys("rq:*"))
    _rq_enqueue(redis_client, submission, ["staff"], failure_ttl)
    assert written == _rq_keys(redis_client)
