"""A message's delivery job: what it calls, its retry schedule, its hash, and the one way it is
enqueued outside the submission script.

A message job is ``worker.jobs.send_message(<submission id>, <kind>)`` under the job id
``<submission id>-<kind>`` (:func:`frontdesk.submissions.keys.job_id`); a reply's is
``send_message(<submission id>, "reply", <reply id>)`` under ``<submission id>-reply-<reply id>``
(:func:`frontdesk.submissions.record.message_name`). Each is retried on
:func:`retry_schedule`, its failure kept as long as the record, its ``meta`` the submission's
request id. :meth:`MessageJobs.hashes` is the one definition of its hash: the submission script
writes those hashes atomically with the record (:mod:`frontdesk.submissions.script`), and
:meth:`MessageJobs.enqueue` queues the same hashes on a pipeline (staff release and resend, the
worker's sweep). The job is named by dotted path, so the forms service never imports worker code.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import redis.client

from frontdesk.settings import Settings
from frontdesk.submissions.keys import QUEUES_KEY, job_id, job_key
from frontdesk.submissions.record import MessageKind, Submission, message_name
from frontdesk.submissions.rqjob import JobHash, JobTemplate

SEND_JOB = "worker.jobs.send_message"
RESULT_TTL = 3600
"""Seconds RQ keeps a finished job's result."""


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


class MessageJobs:
    """The message jobs of one RQ queue: ``queue_name``, ``retry`` (delays in seconds) and
    ``timeout`` (seconds a job may run).
    """

    def __init__(self, queue_name: str, retry: Sequence[int], timeout: int) -> None:
        self.queue_name = queue_name
        self.template = JobTemplate(queue_name, retry, timeout, RESULT_TTL)
        self.queue_key = self.template.queue_key

    @classmethod
    def from_settings(cls, settings: Settings) -> MessageJobs:
        """The jobs of ``FRONTDESK_QUEUE_NAME``, ``FRONTDESK_RETRY_*`` and ``FRONTDESK_JOB_TIMEOUT``."""
        schedule = retry_schedule(settings.retry_base_seconds, settings.retry_max_hours)
        return cls(settings.queue_name, schedule, int(settings.job_timeout))

    def hashes(
        self,
        submission: Submission,
        kinds: Sequence[MessageKind],
        failure_ttl: int,
        now: dt.datetime | None = None,
    ) -> list[JobHash]:
        """The hash of each message job of ``submission``, one per kind in ``kinds``, enqueued at
        ``now`` (UTC; default: now), a failure kept ``failure_ttl`` seconds.
        """
        moment = dt.datetime.now(dt.UTC) if now is None else now
        meta = {"request_id": submission.request_id}
        return [
            self.template.job(SEND_JOB, (submission.id, kind), failure_ttl, meta, moment)
            for kind in kinds
        ]

    def reply_hash(
        self,
        submission: Submission,
        reply_id: str,
        failure_ttl: int,
        now: dt.datetime | None = None,
    ) -> JobHash:
        """The hash of the job that sends reply ``reply_id`` of ``submission`` (see
        :meth:`hashes`).
        """
        moment = dt.datetime.now(dt.UTC) if now is None else now
        meta = {"request_id": submission.request_id}
        args = (submission.id, "reply", reply_id)
        return self.template.job(SEND_JOB, args, failure_ttl, meta, moment)

    def enqueue(
        self,
        pipe: redis.client.Pipeline,
        submission: Submission,
        kinds: Sequence[MessageKind],
        failure_ttl: int,
        *,
        replies: Sequence[str] = (),
    ) -> None:
        """Queue on ``pipe`` the commands that enqueue the message jobs ``kinds`` of
        ``submission``, then one job per reply id of ``replies``, as RQ's ``enqueue_many`` does:
        ``SADD rq:queues``, then per job its hash and its id at the end of the queue. The caller
        runs the pipeline (in ``MULTI`` mode, so a job is never half written); a job of the same
        id is overwritten.
        """
        pipe.sadd(QUEUES_KEY, self.queue_key)
        jobs: list[tuple[str, JobHash]] = list(
            zip(kinds, self.hashes(submission, kinds, failure_ttl), strict=True)
        )
        jobs += [
            (message_name("reply", reply_id), self.reply_hash(submission, reply_id, failure_ttl))
            for reply_id in replies
        ]
        for name, job in jobs:
            pipe.hset(job_key(job_id(submission.id, name)), mapping=job.mapping())  # type: ignore[arg-type]
            pipe.rpush(self.queue_key, job_id(submission.id, name))
