"""Replies staff send a visitor from the inbox: the checks, the reply's headers, and recording it.

:func:`record_reply` does it all in one atomic update of the record
(:func:`~frontdesk.submissions.store.update_submission`): the :class:`~frontdesk.submissions.record.Reply`
is appended to ``Submission.replies`` with its delivery state (a ``reply``
:class:`~frontdesk.submissions.record.MessageState` naming it), the inquiry becomes answered
(:func:`mark_answered`) and the reply's job is queued in the same ``MULTI``
(:meth:`~frontdesk.submissions.queueing.MessageJobs.enqueue`); the worker sends it like every
message, with the same retries (worker/jobs.py).

The reply's headers are fixed here, when it is recorded, so the thread is known before anything is
sent and a retry or resend sends the same mail: its Message-ID (``<submission id>.reply-<reply
id>@<sender's domain>``), In-Reply-To (the previous reply's Message-ID; for the first reply the
auto-reply's, when one was sent) and References (the auto-reply's, then every earlier reply's), and
the subject ``Re: <the auto-reply's subject, or the form title>``.

Refused (:class:`ReplyRefused`, its text for staff): an empty or over-long text, a quarantined
inquiry (release it first), one without an email address, one whose form is no longer defined.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from email.utils import parseaddr

import redis
import redis.client

from frontdesk.submissions.definition import FormDefinition
from frontdesk.submissions.queueing import MessageJobs
from frontdesk.submissions.record import MessageState, Reply, Submission, message_name
from frontdesk.submissions.store import update_submission

MAX_TEXT = 20_000
"""Most characters of a reply's text."""
_SPACE = re.compile(r"\s+")
_LINE_BREAKS = re.compile("\r\n?|\u2028|\u2029")
# C0/C1 controls but LF and tab, and the controls that reorder how text displays.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class ReplyRefused(Exception):
    """The reply cannot be recorded; ``str()`` says why, in words for staff (no visitor data)."""


def visitor_email(form: FormDefinition, submission: Submission) -> str | None:
    """The visitor's address as stored: the value of the form's first ``email`` field, if any."""
    field = next((f for f in form.fields if f.type == "email"), None)
    value = submission.fields.get(field.name, "") if field else ""
    return value if "@" in value else None


def reply_text(raw: str) -> str:
    """``raw`` as a reply's text: line breaks as LF, trimmed; raises :class:`ReplyRefused`
    when empty, over :data:`MAX_TEXT` characters or holding a control character.
    """
    text = _LINE_BREAKS.sub("\n", raw).strip()
    if not text:
        raise ReplyRefused("The reply is empty.")
    if len(text) > MAX_TEXT:
        raise ReplyRefused(f"The reply is longer than {MAX_TEXT} characters.")
    if _CONTROL.search(text):
        raise ReplyRefused("The reply holds a control character; type it again as plain text.")
    return text


def one_line(text: str, limit: int = 200) -> str:
    """``text`` on one line (whitespace folded), cut at ``limit`` characters."""
    folded = _SPACE.sub(" ", text).strip()
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def _domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "frontdesk.invalid"


def new_reply(
    form: FormDefinition,
    submission: Submission,
    *,
    author: str,
    signature: str,
    text: str,
    now: dt.datetime,
) -> Reply:
    """The next reply to ``submission`` (not yet recorded), its headers fixed (module docstring).

    Raises :class:`ReplyRefused` for a quarantined inquiry, one without an email address, and a
    text :func:`reply_text` refuses.
    """
    if submission.status == "quarantined":
        raise ReplyRefused("This inquiry is quarantined: release it before you reply.")
    if visitor_email(form, submission) is None:
        raise ReplyRefused("This inquiry has no email address to reply to.")
    cleaned = reply_text(text)
    # 48 random bits: unique among one inquiry's replies, and the Message-ID stays on one line.
    reply_id = secrets.token_hex(6)
    auto_reply = submission.message("auto_reply")
    answered = (
        auto_reply.message_id
        if auto_reply is not None and auto_reply.status == "sent" and auto_reply.message_id
        else None
    )
    chain = [answered] if answered else []
    chain += [r.message_id for r in submission.replies if r.message_id]
    topic = form.auto_reply.subject if answered and form.auto_reply else form.title
    return Reply(
        id=reply_id,
        author=author,
        signature=one_line(signature, 100),
        at=now,
        text=cleaned,
        message_id=f"<{submission.id}.{message_name('reply', reply_id)}@{_domain(form.sender)}>",
        subject=one_line(f"Re: {one_line(topic)}"),
        in_reply_to=chain[-1] if chain else None,
        references=chain,
    )


def mark_answered(submission: Submission) -> None:
    """The inquiry's workflow step when a reply is recorded: it becomes ``answered``."""
    submission.inquiry_status = "answered"


def record_reply(
    connection: redis.Redis,
    jobs: MessageJobs,
    form: FormDefinition,
    submission_id: str,
    *,
    author: str,
    signature: str,
    text: str,
    now: dt.datetime | None = None,
) -> tuple[Submission, Reply] | None:
    """Record a reply by ``author`` (signed ``signature``) to inquiry ``submission_id`` of
    ``form`` and queue its job, atomically (module docstring); ``now`` (UTC) defaults to now.

    Returns the updated record and the reply, ``None`` when the record no longer exists. Raises
    :class:`ReplyRefused` (nothing written) and ``redis.RedisError``.
    """
    moment = dt.datetime.now(dt.UTC) if now is None else now
    made: list[Reply] = []

    def add(submission: Submission) -> None:
        if submission.form != form.id:
            raise ReplyRefused("This inquiry belongs to another form.")
        reply = new_reply(
            form, submission, author=author, signature=signature, text=text, now=moment
        )
        made[:] = [reply]
        submission.replies.append(reply)
        submission.messages.append(MessageState(kind="reply", reply_id=reply.id))
        mark_answered(submission)

    def enqueue(pipe: redis.client.Pipeline, submission: Submission, ttl: int) -> None:
        # A failure is kept as long as the record (a day when it has no TTL), like every message.
        jobs.enqueue(pipe, submission, [], ttl if ttl > 0 else 86400, replies=[made[0].id])

    updated = update_submission(connection, submission_id, add, also=enqueue)
    return None if updated is None else (updated, made[0])
