"""Storing a submission and queueing its jobs atomically in Redis.

Lifecycle (DESIGN.md "Submission lifecycle"): the idempotency and duplicate keys are claimed first
with ``SET NX``; then one ``MULTI/EXEC`` writes the record (TTL = retention), its entry in the form's
time-ordered index and the RQ job(s). All of it is stored or none; a failed ``EXEC`` releases the
claimed keys. Jobs are named by dotted path (``worker.jobs.send_message``): the forms service never
imports worker code, and job arguments are only the submission id and the message kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, get_args

import redis
import redis.asyncio
import redis.client
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from services.forms.record import (
    MessageKind,
    MessageState,
    Submission,
    decoder,
    encoder,
    form_index_key,
    job_id,
    sent_marker_key,
    submission_key,
)

SEND_JOB = "worker.jobs.send_message"


class StoreUnavailable(Exception):
    """Redis could not be reached or refused the write; nothing of the submission was stored."""


def retry_schedule(base_seconds: float, max_hours: float) -> list[int]:
    """Backoff delays in seconds: ``base`` doubling up to 1 h, until their sum reaches ``max_hours``.

    ``retry_schedule(60, 24)`` → ``[60, 120, 240, 480, 960, 1920, 3600, 3600, ...]`` (about 24 h).
    """
    delays: list[int] = []
    delay, budget = max(1.0, base_seconds), max_hours * 3600
    while sum(delays) + delay <= budget or not delays:
        delays.append(math.ceil(delay))
        delay = min(delay * 2, 3600.0)
    return delays


class SubmissionStore:
    """Writes submissions and their notification jobs to one Redis (sync client, bytes responses).

    ``queue_name`` is the RQ queue; ``retry`` the RQ retry schedule (seconds); ``job_timeout`` in s.
    """

    def __init__(
        self,
        connection: redis.Redis,
        queue_name: str,
        retry: list[int],
        job_timeout: int,
    ) -> None:
        self.redis = connection
        self.queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
        self.retry = retry
        self.job_timeout = job_timeout

    def save(self, submission: Submission, retention_days: int, kinds: list[MessageKind]) -> None:
        """Store ``submission`` and enqueue one job per message kind, in one ``MULTI/EXEC``.

        Raises :class:`StoreUnavailable` when Redis fails; then nothing was written.
        """
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                self._write(pipe, submission, retention_days, kinds)
                pipe.execute()
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def _write(
        self,
        pipe: redis.client.Pipeline,
        submission: Submission,
        retention_days: int,
        kinds: list[MessageKind],
    ) -> None:
        """Queue the transaction's commands on ``pipe`` (no I/O until it executes)."""
        ttl = retention_days * 86400
        jobs = self._jobs(submission, kinds, ttl)
        score = submission.created_at.timestamp() * 1000
        pipe.multi()
        pipe.set(submission_key(submission.id), encoder.encode(submission), ex=ttl)
        pipe.zadd(form_index_key(submission.form), {submission.id: score})
        if jobs:
            self.queue.enqueue_many(jobs, pipeline=pipe)

    async def save_async(
        self,
        connection: redis.asyncio.Redis,
        submission: Submission,
        retention_days: int,
        kinds: list[MessageKind],
    ) -> None:
        """:meth:`save` over an asyncio client, so the event loop never blocks on Redis.

        RQ only speaks the sync client: its ``enqueue_many`` records the job commands on a sync
        pipeline in ``MULTI`` mode, which buffers and never touches its connection; that command
        stack is replayed on an asyncio transaction, one ``MULTI/EXEC`` as with :meth:`save`.
        Raises :class:`StoreUnavailable`; then nothing was written.
        """
        recorder = self.redis.pipeline(transaction=True)
        self._write(recorder, submission, retention_days, kinds)
        try:
            async with connection.pipeline(transaction=True) as pipe:
                for args, options in recorder.command_stack:
                    pipe.pipeline_execute_command(*args, **options)  # type: ignore[no-untyped-call]
                await pipe.execute()
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc
        finally:
            recorder.reset()

    def _jobs(self, submission: Submission, kinds: list[MessageKind], ttl: int) -> list[Any]:
        return [
            Queue.prepare_data(
                SEND_JOB,
                args=(submission.id, kind),
                job_id=job_id(submission.id, kind),
                timeout=self.job_timeout,
                result_ttl=3600,
                failure_ttl=ttl,
                retry=Retry(max=len(self.retry), interval=self.retry),
                meta={"request_id": submission.request_id},
            )
            for kind in kinds
        ]

    def queue_messages(
        self, submission_id: str, kinds: list[MessageKind], *, release: bool
    ) -> Submission | None:
        """Queue messages ``kinds`` again (resend) or for the first time (``release``: quarantined →
        received), atomically with the record update (``WATCH`` + ``MULTI``), clearing the ``sent``
        marker so the worker sends it. Returns the updated record, ``None`` when it does not exist.
        Raises :class:`WrongStatus` (release of a non-quarantined one, resend of a quarantined one)
        or :class:`StoreUnavailable`.
        """
        key = submission_key(submission_id)
        try:
            while True:
                with self.redis.pipeline(transaction=True) as pipe:
                    try:
                        pipe.watch(key)  # type: ignore[no-untyped-call]
                        raw = pipe.get(key)
                        if raw is None:
                            return None
                        ttl = int(pipe.ttl(key))
                        submission = decoder.decode(raw)
                        _requeue(submission, kinds, release=release)
                        pipe.multi()
                        pipe.set(key, encoder.encode(submission), ex=ttl if ttl > 0 else None)
                        pipe.delete(*(sent_marker_key(submission_id, kind) for kind in kinds))
                        jobs = self._jobs(submission, kinds, ttl if ttl > 0 else 86400)
                        self.queue.enqueue_many(jobs, pipeline=pipe)
                        pipe.execute()
                        return submission
                    except redis.WatchError:
                        continue
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def delete(self, submission_id: str) -> Submission | None:
        """Delete the record, its index entry and its sent markers in one ``MULTI``; returns the
        deleted record or ``None``. A job still queued finds the record gone and sends nothing.
        """
        submission = load_submission(self.redis, submission_id)
        if submission is None:
            return None
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(submission_key(submission_id))
            pipe.zrem(form_index_key(submission.form), submission_id)
            pipe.delete(*(sent_marker_key(submission_id, kind) for kind in get_args(MessageKind)))
            pipe.execute()
        return submission


class WrongStatus(Exception):
    """The submission's status does not allow the action (``str()`` says why)."""


def _requeue(submission: Submission, kinds: list[MessageKind], *, release: bool) -> None:
    if release:
        if submission.status != "quarantined":
            raise WrongStatus(f"submission is {submission.status}, not quarantined")
        submission.status = "received"
    elif submission.status == "quarantined":
        raise WrongStatus("submission is quarantined; release it instead")
    elif submission.status == "failed":
        submission.status = "received"
    for kind in kinds:
        state = submission.message(kind)
        if state is None:
            submission.messages.append(MessageState(kind=kind))
        else:
            state.status = "queued"
            state.last_error = None


def update_submission(
    connection: redis.Redis, submission_id: str, mutate: Callable[[Submission], None]
) -> Submission | None:
    """Apply ``mutate`` to the stored record atomically (``WATCH`` + ``MULTI``), keeping its TTL.

    Returns the updated record, or ``None`` when it no longer exists (expired or erased).
    Retries when another writer changed the record meanwhile.
    """
    key = submission_key(submission_id)
    while True:
        with connection.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raw = pipe.get(key)
                if raw is None:
                    return None
                ttl = pipe.ttl(key)
                submission = decoder.decode(raw)
                mutate(submission)
                pipe.multi()
                pipe.set(key, encoder.encode(submission), ex=ttl if ttl > 0 else None)
                pipe.execute()
                return submission
            except redis.WatchError:
                continue


def load_submission(connection: redis.Redis, submission_id: str) -> Submission | None:
    """The stored record, or ``None`` when it does not exist."""
    raw = connection.get(submission_key(submission_id))
    return None if raw is None else decoder.decode(raw)
