"""RQ jobs. Arguments are only ids and kinds; everything else is read from Redis and settings.

``send_message(submission_id, kind)`` delivers one email of a submission at least once:
``queued`` → ``sending`` → ``sent`` | ``failed`` is kept on the record, and a ``sent`` marker
(``SET NX``) keeps a re-run (a retry, a recovered job) from sending it again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from rq import get_current_job

from frontdesk.redis import connect
from frontdesk.settings import load_settings
from services.forms.definition import load_forms
from services.forms.record import (
    MessageKind,
    SmtpError,
    Submission,
    sent_marker_key,
    submission_key,
)
from services.forms.store import load_submission, update_submission
from worker.messages import build_environment, recipients_of, staff_message
from worker.smtp import DeliveryError, deliver

log = logging.getLogger("frontdesk.worker")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _set_message(
    submission: Submission,
    kind: MessageKind,
    *,
    status: str,
    attempt: bool = False,
    error: SmtpError | None = None,
    message_id: str | None = None,
) -> None:
    state = submission.message(kind)
    if state is None:
        return
    state.status = status  # type: ignore[assignment]
    if attempt:
        state.attempts += 1
    if error is not None:
        state.last_error = error
    if message_id is not None:
        state.message_id = message_id
        state.sent_at = _now()
    if kind == "staff" and submission.status != "quarantined":
        if status == "sent":
            submission.status = "notified"
        elif status == "failed":
            submission.status = "failed"


def send_message(submission_id: str, kind: MessageKind) -> str:
    """Deliver message ``kind`` (``staff``) of submission ``submission_id``.

    Returns a short outcome (``sent``, ``already_sent``, ``gone``, ``failed``). Raises
    :class:`~worker.smtp.DeliveryError` on a transient failure so RQ retries the job on its schedule.
    """
    settings = load_settings()
    connection = connect(settings.redis_url)
    submission = load_submission(connection, submission_id)
    if submission is None:
        log.warning("submission %s is gone (expired or erased); nothing sent", submission_id)
        return "gone"
    marker = sent_marker_key(submission_id, kind)
    if connection.exists(marker):
        log.info("submission %s: %s message already sent", submission_id, kind)
        return "already_sent"
    form = load_forms(settings.site_dir).get(submission.form)
    if form is None:
        raise RuntimeError(f"form {submission.form!r} of submission {submission_id} is not defined")

    message = staff_message(form, submission, build_environment())
    update_submission(
        connection, submission_id, lambda s: _set_message(s, kind, status="sending", attempt=True)
    )
    try:
        refused = asyncio.run(deliver(message, recipients_of(message), settings))
    except DeliveryError as exc:
        job = get_current_job()
        final = exc.permanent or job is None or not job.retries_left
        error = SmtpError(code=exc.code, text=exc.text[:500])
        status = "failed" if final else "queued"
        update_submission(
            connection, submission_id, lambda s: _set_message(s, kind, status=status, error=error)
        )
        log.warning(
            "submission %s: %s message %s: %s",
            submission_id,
            kind,
            "failed permanently" if final else "will be retried",
            exc,
        )
        if final:
            if job is not None:
                job.retries_left = 0
            return "failed"
        raise
    ttl = max(connection.ttl(submission_key(submission_id)), 3600)
    connection.set(marker, message["Message-ID"], nx=True, ex=ttl)
    partial = (
        SmtpError(code=None, text="; ".join(f"{a}: {r}" for a, r in refused.items()))
        if refused
        else None
    )
    update_submission(
        connection,
        submission_id,
        lambda s: _set_message(
            s, kind, status="sent", error=partial, message_id=str(message["Message-ID"])
        ),
    )
    log.info("submission %s: %s message sent", submission_id, kind)
    return "sent"
