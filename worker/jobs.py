"""RQ jobs. Arguments are only ids and kinds; everything else is read from Redis and settings.

``send_message(submission_id, kind)`` delivers one email of a submission at least once (a reply
from the inbox: ``send_message(submission_id, "reply", reply_id)``): ``queued`` → ``sending`` →
``sent`` | ``failed`` is kept on the record, and a ``sent`` marker (``SET NX``) keeps a re-run (a
retry, a recovered job) from sending it again. Logs name the submission id and the message's name
(its kind, ``reply-<reply id>`` for a reply), never visitor data: a failure's text is cleaned of the
submission's own values (:func:`worker.redact.scrub`) before it is stored, logged or raised to RQ.
"""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage

import jinja2
import redis
from rq import get_current_job

from frontdesk.redis import connect
from frontdesk.settings import CHAT_PREFIX, chat_secret
from frontdesk.submissions.counters import record_message
from frontdesk.submissions.keys import sent_marker_key, submission_key
from frontdesk.submissions.record import (
    CHAT_KINDS,
    MessageKind,
    SmtpError,
    Submission,
    message_name,
    set_message,
)
from frontdesk.submissions.store import load_submission, update_submission
from worker.context import JobContext, current_context
from worker.messages import auto_reply_message, recipients_of, reply_message, staff_message
from worker.outage import riding_out
from worker.pause import pause_point
from worker.redact import scrub, visitor_values
from worker.smtp import DeliveryError, deliver
from worker.templates import describe

log = logging.getLogger("frontdesk.worker")


def mark_sent(
    connection: redis.Redis, submission_id: str, kind: MessageKind, reply_id: str | None = None
) -> bool:
    """Bring the record in line with an existing ``sent`` marker of message ``kind`` (of reply
    ``reply_id``) (a crash between the relay's 250 and the record update leaves the marker alone).
    Returns whether a marker exists.
    """
    raw = connection.get(sent_marker_key(submission_id, message_name(kind, reply_id)))
    if raw is None:
        return False
    marker = raw.decode() if isinstance(raw, bytes) else str(raw)
    stored = load_submission(connection, submission_id)
    state = stored.message(kind, reply_id) if stored else None
    if state is not None and state.status != "sent":
        update_submission(
            connection,
            submission_id,
            lambda s: set_message(s, kind, status="sent", message_id=marker, reply_id=reply_id),
        )
    return True


class FormBroken(Exception):
    """The submission's form file does not load and no good definition of it was ever read: the
    message waits (RQ retries the job) for the file to be fixed.
    """


def compose(
    context: JobContext, submission: Submission, kind: MessageKind, reply_id: str | None = None
) -> tuple[EmailMessage, list[str]] | None:
    """The email of message ``kind`` (of reply ``reply_id``) and its envelope recipients (the staff
    email's include the form's ``bcc``, which no header names), or ``None`` when there is nothing
    to send.

    Raises :class:`FormBroken` when the form's file is broken and has no last good definition,
    ``RuntimeError`` when the submission's form is no longer defined.
    """
    form = context.form(submission.form)
    if form is None and context.is_broken(submission.form):
        raise FormBroken(f"form {submission.form!r} does not load; the message waits for a fix")
    if form is None:
        raise RuntimeError(f"form {submission.form!r} of submission {submission.id} is not defined")
    if kind == "reply":
        reply = submission.reply(reply_id or "")
        answer = None if reply is None else reply_message(form, submission, reply)
        return None if answer is None else (answer, recipients_of(answer))
    envs = context.environments(form.id)
    if kind == "auto_reply":
        auto_reply = auto_reply_message(form, submission, envs)
        return None if auto_reply is None else (auto_reply, recipients_of(auto_reply))
    message = staff_message(form, submission, envs, context.settings.inbox_url)
    return message, recipients_of(message, form.bcc)


def _fail(
    connection: redis.Redis,
    submission_id: str,
    kind: MessageKind,
    error: SmtpError,
    reply_id: str | None = None,
) -> str:
    update_submission(
        connection,
        submission_id,
        lambda s: set_message(s, kind, status="failed", error=error, reply_id=reply_id),
    )
    record_message(connection, kind, "failed")
    log.error(
        "submission %s: %s message failed permanently: %s %s",
        submission_id,
        message_name(kind, reply_id),
        error.code or "-",
        error.text,
    )
    job = get_current_job()
    if job is not None:
        job.retries_left = 0
    return "failed"


def _transient_or_failed(
    connection: redis.Redis,
    submission: Submission,
    kind: MessageKind,
    exc: DeliveryError,
    reply_id: str | None = None,
) -> str:
    """Record a failed attempt: ``failed`` when permanent or out of retries; else ``queued`` and
    raise so RQ schedules the next retry. The error stored, logged and raised is ``exc`` without
    the submission's values, and without ``exc``'s traceback (RQ logs and may keep that).
    """
    job = get_current_job()
    text = scrub(exc.text, visitor_values(submission))[:500]
    error = SmtpError(code=exc.code, text=text)
    if exc.permanent or job is None or not job.retries_left:
        return _fail(connection, submission.id, kind, error, reply_id)
    update_submission(
        connection,
        submission.id,
        lambda s: set_message(s, kind, status="queued", error=error, reply_id=reply_id),
    )
    record_message(connection, kind, "retried")
    log.warning(
        "submission %s: %s message will be retried: %s",
        submission.id,
        message_name(kind, reply_id),
        exc.code or "-",
    )
    raise DeliveryError(exc.code, text, permanent=False) from None


def _delivered(
    connection: redis.Redis, submission: Submission, kind: MessageKind, status: int
) -> str:
    """Record an HTTP message (webhook, chat) accepted with ``status``: the ``sent`` marker, the
    record's state (its delivery id ``<submission id>.<kind>``), the count, one log line.
    """
    delivery = f"{submission.id}.{kind}"
    ttl = max(connection.ttl(submission_key(submission.id)), 3600)
    connection.set(sent_marker_key(submission.id, kind), delivery, nx=True, ex=ttl)
    update_submission(
        connection,
        submission.id,
        lambda s: set_message(s, kind, status="sent", message_id=delivery),
    )
    record_message(connection, kind, "sent")
    log.info("submission %s: %s message delivered (%d)", submission.id, kind, status)
    return "sent"


def _sending(connection: redis.Redis, submission_id: str, kind: MessageKind) -> None:
    update_submission(
        connection, submission_id, lambda s: set_message(s, kind, status="sending", attempt=True)
    )


def _send_webhook(connection: redis.Redis, context: JobContext, submission: Submission) -> str:
    from worker.webhooks import post, secret_key

    settings = context.settings
    form = context.form(submission.form)
    if form is None or form.webhook is None:
        text = f"form {submission.form!r} has no webhook"
        return _fail(connection, submission.id, "webhook", SmtpError(code=None, text=text))
    _sending(connection, submission.id, "webhook")
    try:
        status = post(form.webhook.url, submission, secret_key(connection, settings), settings)
    except DeliveryError as exc:
        return _transient_or_failed(connection, submission, "webhook", exc)
    return _delivered(connection, submission, "webhook", status)


def _skip(connection: redis.Redis, submission_id: str, kind: MessageKind, reason: str) -> str:
    def skip(submission: Submission) -> None:
        state = submission.message(kind)
        if state is not None:
            state.status, state.skip_reason = "skipped", reason

    update_submission(connection, submission_id, skip)
    record_message(connection, kind, "skipped")
    log.warning("submission %s: %s message skipped: %s", submission_id, kind, reason)
    return "skipped"


def _send_chat(
    connection: redis.Redis, context: JobContext, submission: Submission, kind: MessageKind
) -> str:
    """Chat message ``kind`` (worker/chat.py): skipped when its secret is not set, retried like
    email, never a URL or token in a log line, the record or RQ's job.
    """
    from worker.chat import chat_text, send

    settings = context.settings
    form = context.form(submission.form)
    if form is None and context.is_broken(submission.form):
        broken = DeliveryError(None, f"form {submission.form!r} does not load", permanent=False)
        return _transient_or_failed(connection, submission, kind, broken)
    target = form.chat_target(kind) if form is not None else None
    if form is None or target is None:
        text = f"form {submission.form!r} has no notify_chat target for {kind}"
        return _fail(connection, submission.id, kind, SmtpError(code=None, text=text))
    secret = chat_secret(settings, target.secret)
    if secret is None:
        reason = f"secret_unset: {CHAT_PREFIX}{target.secret} is not set"
        return _skip(connection, submission.id, kind, reason)
    _sending(connection, submission.id, kind)
    try:
        status = send(
            target, secret.reveal(), chat_text(form, target, submission, settings), settings
        )
    except DeliveryError as exc:
        return _transient_or_failed(connection, submission, kind, exc)
    return _delivered(connection, submission, kind, status)


def send_message(submission_id: str, kind: MessageKind, reply_id: str | None = None) -> str:
    """Deliver message ``kind`` (``staff``, ``auto_reply``, ``webhook``, ``chat_<n>``, or ``reply``
    with the ``reply_id`` of a reply from the inbox) of submission ``submission_id``.

    Returns a short outcome (``sent``, ``already_sent``, ``gone``, ``quarantined``, ``skipped``,
    ``failed``). Raises
    :class:`~worker.smtp.DeliveryError` on a transient failure so RQ retries the job on its schedule.
    """
    context = current_context()
    settings = context.settings
    name = message_name(kind, reply_id)
    # In the worker, the client waits out a Redis outage (bounded by the job's timeout), so a
    # message the relay accepted gets its marker when Redis is back instead of being sent again.
    connection = connect(settings, retry=riding_out())
    submission = load_submission(connection, submission_id)
    if submission is None:
        log.warning("submission %s is gone (expired or erased); nothing sent", submission_id)
        return "gone"
    if submission.status == "quarantined":
        # Released submissions are queued again by the release; a stray job sends nothing.
        log.info("submission %s is quarantined; %s message not sent", submission_id, name)
        return "quarantined"
    state = submission.message(kind, reply_id)
    if state is not None and state.status == "skipped":
        # Decided at intake (frontdesk/submissions/budget.py): a stray job obeys the record.
        log.info("submission %s: %s message skipped (%s)", submission_id, name, state.skip_reason)
        return "skipped"
    if kind == "reply" and (state is None or submission.reply(reply_id or "") is None):
        log.warning("submission %s: %s is not on the record; nothing sent", submission_id, name)
        return "gone"
    if mark_sent(connection, submission_id, kind, reply_id):
        log.info("submission %s: %s message already sent", submission_id, name)
        return "already_sent"
    if kind == "webhook":
        return _send_webhook(connection, context, submission)
    if kind in CHAT_KINDS:
        return _send_chat(connection, context, submission, kind)
    try:
        composed = compose(context, submission, kind, reply_id)
    except FormBroken as exc:
        transient = DeliveryError(None, str(exc), permanent=False)
        return _transient_or_failed(connection, submission, kind, transient, reply_id)
    except RuntimeError as exc:
        error = SmtpError(code=None, text=str(exc))
        return _fail(connection, submission_id, kind, error, reply_id)
    except jinja2.TemplateError as exc:
        # A site template that fails (the sandbox's SecurityError included) fails the message:
        # retrying cannot fix it, and staff see the error on the record (worker/templates.py).
        error = SmtpError(code=None, text=f"template error: {describe(exc)}")
        return _fail(connection, submission_id, kind, error, reply_id)
    if composed is None:
        text = "nothing to send: the form has no auto-reply or the submission no email address"
        return _fail(connection, submission_id, kind, SmtpError(code=None, text=text), reply_id)
    message, recipients = composed

    update_submission(
        connection,
        submission_id,
        lambda s: set_message(s, kind, status="sending", attempt=True, reply_id=reply_id),
    )
    try:
        accepted = asyncio.run(deliver(message, recipients, settings))
    except DeliveryError as exc:
        return _transient_or_failed(connection, submission, kind, exc, reply_id)
    pause_point(settings.drill_pause_dir, "sent")
    ttl = max(connection.ttl(submission_key(submission_id)), 3600)
    connection.set(sent_marker_key(submission_id, name), message["Message-ID"], nx=True, ex=ttl)
    values = visitor_values(submission)
    refused = {
        address: SmtpError(
            code=int(reply[:3]) if reply[:3].isdigit() else None,
            text=scrub(reply, values)[:500],
        )
        for address, reply in accepted.refused.items()
    }
    update_submission(
        connection,
        submission_id,
        lambda s: set_message(
            s,
            kind,
            status="sent",
            message_id=str(message["Message-ID"]),
            refused=refused,
            reply_id=reply_id,
        ),
    )
    record_message(connection, kind, "sent")
    if refused:
        log.warning(
            "submission %s: %s message sent, but %d recipient(s) refused",
            submission_id,
            name,
            len(refused),
        )
    log.info("submission %s: %s message sent", submission_id, name)
    return "sent"
