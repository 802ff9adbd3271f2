"""The sweep (docs/worker.md, "Delivery state and guarantees"): no message stays ``queued`` or
``sending`` without a live job.

For every stored submission with such a message: a ``sent`` marker brings the record up to date; a job
that is queued, scheduled, deferred or started is left alone; a job that is gone (lost with Redis, or
expired) is enqueued again with the full retry schedule; a job that ended (failed after its retries,
stopped, cancelled, or finished without updating the record) marks the message ``failed`` so staff
see it and can resend it, rather than the sweep retrying it forever.
"""

from __future__ import annotations

import logging
from functools import partial

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from frontdesk.settings import Settings
from frontdesk.submissions.keys import job_id, submission_key
from frontdesk.submissions.queueing import MessageJobs
from frontdesk.submissions.record import MessageKind, SmtpError, Submission, set_message
from frontdesk.submissions.store import load_submission, update_submission
from worker.jobs import mark_sent

log = logging.getLogger("frontdesk.worker")

_LIVE = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED}


def _fail_pending(
    submission: Submission, *, kind: MessageKind, reply_id: str | None, error: SmtpError
) -> None:
    state = submission.message(kind, reply_id)
    if state is not None and state.status in ("queued", "sending"):
        set_message(submission, kind, status="failed", error=error, reply_id=reply_id)


def sweep(connection: redis.Redis, settings: Settings) -> int:
    """Run the sweep once over every submission; returns how many messages it acted on."""
    acted = 0
    jobs = MessageJobs.from_settings(settings)
    for key in connection.scan_iter(match=submission_key("*"), count=500):
        submission_id = key.decode().rpartition(":")[2]
        submission = load_submission(connection, submission_id)
        if submission is None or submission.status == "quarantined":
            continue
        for state in submission.messages:
            if state.status not in ("queued", "sending"):
                continue
            kind, reply_id, name = state.kind, state.reply_id, state.name
            if mark_sent(connection, submission_id, kind, reply_id):
                acted += 1
                continue
            try:
                job = Job.fetch(
                    job_id(submission_id, name), connection=connection, serializer=JSONSerializer
                )
                status = job.get_status()
            except NoSuchJobError:
                status = None
            # Re-check after reading the job: it may have finished between the two reads.
            if status in _LIVE or mark_sent(connection, submission_id, kind, reply_id):
                continue
            acted += 1
            if status is None:
                log.warning(
                    "submission %s: %s message had no job; enqueued again", submission_id, name
                )
                # The full retry schedule again; a failure kept as long as the record (≥ 1 h).
                kinds: list[MessageKind] = [] if reply_id else [kind]
                replies = [reply_id] if reply_id else []
                with connection.pipeline(transaction=True) as pipe:
                    ttl = max(connection.ttl(key), 3600)
                    jobs.enqueue(pipe, submission, kinds, ttl, replies=replies)
                    pipe.execute()
                continue
            ended = status.value if isinstance(status, JobStatus) else str(status)
            error = SmtpError(code=None, text=f"the delivery job ended {ended} without sending")
            update_submission(
                connection,
                submission_id,
                partial(_fail_pending, kind=kind, reply_id=reply_id, error=error),
            )
            log.error("submission %s: %s message failed: job ended %s", submission_id, name, ended)
    return acted
