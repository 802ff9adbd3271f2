"""``frontdesk resend ID``: send a submission's messages again, whatever their state.

The ``sent`` marker is removed first (a resend is a deliberate second copy, with the same
Message-ID), the message goes back to ``queued`` with its attempts and last error kept, and a job
with the full retry schedule is enqueued.
"""

from __future__ import annotations

import logging

import redis

from frontdesk.settings import Settings
from services.forms.record import MessageKind, Submission, sent_marker_key, submission_key
from services.forms.store import update_submission
from worker.jobs import _set_message
from worker.sweep import enqueue_message

log = logging.getLogger("frontdesk.worker")


def resend(
    connection: redis.Redis,
    settings: Settings,
    submission_id: str,
    kinds: tuple[MessageKind, ...] = ("staff",),
) -> list[MessageKind]:
    """Queue messages ``kinds`` of the submission again; returns the kinds queued (those the
    submission has). Raises ``LookupError`` when the submission does not exist.
    """
    queued: list[MessageKind] = []

    def requeue(submission: Submission) -> None:
        queued.clear()
        for kind in kinds:
            if submission.message(kind) is not None:
                _set_message(submission, kind, status="queued")
                queued.append(kind)
        if "staff" in queued and submission.status == "failed":
            submission.status = "received"

    for kind in kinds:
        connection.delete(sent_marker_key(submission_id, kind))
    if update_submission(connection, submission_id, requeue) is None:
        raise LookupError(f"submission {submission_id} does not exist")
    ttl = connection.ttl(submission_key(submission_id))
    for kind in queued:
        enqueue_message(connection, settings, submission_id, kind, ttl)
        log.info("submission %s: %s message queued again (resend)", submission_id, kind)
    return queued
