"""The submission record: owned by the forms service, read and updated by the worker.

Stored in Redis as msgspec JSON under :func:`frontdesk.submissions.keys.submission_key`, with a
TTL of the form's retention.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Literal

import msgspec

SubmissionStatus = Literal["received", "quarantined", "notified", "failed"]
MessageKind = Literal[
    "staff", "auto_reply", "webhook", "reply", "chat_1", "chat_2", "chat_3", "chat_4"
]
"""A submission's messages: the staff notification, the visitor's auto-reply, the webhook, each
reply staff send from the inbox (``reply``, one per :class:`Reply`, told apart by its id) and
``chat_<n>``, the form's ``n``-th ``notify_chat`` target."""
CHAT_KINDS: tuple[MessageKind, ...] = ("chat_1", "chat_2", "chat_3", "chat_4")
"""One message kind per chat target, in the order of the form's ``notify_chat`` (at most four)."""
MessageStatus = Literal["queued", "sending", "sent", "failed", "skipped"]
InquiryStatus = Literal["new", "in_progress", "answered", "closed"]
"""The staff's workflow on an inquiry (the inbox): new → in progress → answered → closed; a closed
one may be reopened. Apart from :data:`SubmissionStatus`, which is the delivery side."""


class PhoneInfo(msgspec.Struct, kw_only=True):
    """A phone field as typed and as libphonenumber reads it; E.164 without the extension."""

    raw: str
    e164: str | None
    international: str | None
    extension: str | None
    region: str | None
    type: str | None
    valid: bool


class SmtpError(msgspec.Struct, kw_only=True):
    """The last failure of a message: SMTP reply ``code`` (``None`` for connection errors) and text."""

    code: int | None
    text: str


class MessageState(msgspec.Struct, kw_only=True):
    """Delivery state of one message of a submission: ``queued`` → ``sending`` → ``sent`` |
    ``failed``, or ``skipped`` (an auto-reply decided against at intake, or a chat message whose
    ops secret is not set; ``skip_reason`` says why: ``no_token``, ``origin_unknown``,
    ``address_limit``, ``domain_limit``, ``secret_unset: FRONTDESK_CHAT_<NAME> is not set``). A
    ``reply``'s state names its :class:`Reply` by ``reply_id``.
    """

    kind: MessageKind
    reply_id: str | None = None
    status: MessageStatus = "queued"
    attempts: int = 0
    message_id: str | None = None
    sent_at: dt.datetime | None = None
    last_error: SmtpError | None = None
    # Recipients the relay refused while accepting others (address → reply), per RFC 5321 §3.3.
    refused: dict[str, SmtpError] = {}
    skip_reason: str | None = None

    @property
    def name(self) -> str:
        """The message's name in job ids, ``sent`` markers and log lines (:func:`message_name`)."""
        return message_name(self.kind, self.reply_id)


def message_name(kind: MessageKind, reply_id: str | None = None) -> str:
    """A message's name: its kind, or ``reply-<reply id>`` for a reply (``[A-Za-z0-9_-]`` only, so
    it is a valid RQ job id part: ``<submission id>-<name>``).
    """
    return kind if reply_id is None else f"{kind}-{reply_id}"


# The standard campaign parameters (Google Analytics' five); any other utm_* name is dropped.
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# The reserved fields the embed script posts them in: "_" names are never form fields.
SOURCE_FIELDS = ("_source_url", "_source_title", *(f"_{key}" for key in UTM_KEYS))


class Source(msgspec.Struct, kw_only=True):
    """Where an inquiry came from, as the forms service cleaned it (docs/forms.md, "Where the
    inquiry came from").

    ``url``: the page, without query or fragment when it is on an origin the form's
    ``allowed_origins`` lists, else only its origin (``https://other.example``). With a listed
    origin only: ``title``, the page's title (at most 200 characters, one line), and ``utm``, the
    standard campaign parameters (``utm_source``, ``utm_medium``, ``utm_campaign``, ``utm_term``,
    ``utm_content`` → value, at most 200 characters each). ``via``: ``page`` when the embed
    script sent it, ``referer`` when it was read from the ``Referer`` header of a plain post.
    """

    url: str
    title: str | None = None
    utm: dict[str, str] = {}
    via: Literal["page", "referer"] = "page"


class Note(msgspec.Struct, kw_only=True):
    """An internal note staff wrote on an inquiry in the inbox: never sent to the visitor."""

    author: str
    at: dt.datetime
    text: str


class Reply(msgspec.Struct, kw_only=True):
    """A reply staff sent the visitor from the inbox (frontdesk/submissions/replies.py): its ``id``
    (hex), the staff ``author`` (address) and the ``signature`` it is signed with (their display
    name), when it was asked for (``at``, UTC), its ``text``, and its headers fixed when it was
    recorded, so a retry or a resend sends the same mail: ``subject``, the ``message_id`` it is sent
    under (which the next reply references), and the thread it answers (``in_reply_to``, the
    auto-reply's or the previous reply's Message-ID; ``references``, the chain, oldest first). Its
    delivery is the :class:`MessageState` of kind ``reply`` with its ``reply_id``.
    """

    id: str
    author: str
    at: dt.datetime
    text: str
    message_id: str | None = None
    signature: str = ""
    subject: str = ""
    in_reply_to: str | None = None
    references: list[str] = []


class Submission(msgspec.Struct, kw_only=True):
    """One stored inquiry.

    ``fields`` holds normalised values by field name; ``flags`` the spam and quality flags
    (``phone_unverified``, ``origin_unknown``, ``no_token``, quarantine reasons);
    ``quarantine_reason`` the first reason a quarantined one was held (``honeypot``,
    ``token_too_young``, ``token_forged``, ``captcha_failed``, ``captcha_unavailable``, ``form_cap``);
    ``created_at`` is UTC.
    """

    id: str
    form: str
    status: SubmissionStatus
    created_at: dt.datetime
    fields: dict[str, str]
    phone: PhoneInfo | None = None
    flags: list[str] = []
    messages: list[MessageState] = []
    request_id: str | None = None
    language: str | None = None
    quarantine_reason: str | None = None
    # Absent from records stored before it was kept: they still decode.
    source: Source | None = None
    # What the inbox adds (workflow, notes, replies, who has read it) lives on the record itself,
    # so it expires with the form's retention and goes with an erasure, like every field.
    inquiry_status: InquiryStatus = "new"
    assignee: str | None = None
    notes: list[Note] = []
    replies: list[Reply] = []
    read_by: list[str] = []

    def message(self, kind: MessageKind, reply_id: str | None = None) -> MessageState | None:
        """The delivery state of message ``kind`` (of reply ``reply_id``), if the submission has one."""
        return next((m for m in self.messages if m.kind == kind and m.reply_id == reply_id), None)

    def reply(self, reply_id: str) -> Reply | None:
        """The reply ``reply_id``, if the submission has one."""
        return next((r for r in self.replies if r.id == reply_id), None)


def new_submission_id() -> str:
    """A time-ordered id: 12 hex digits of Unix milliseconds, then 16 random hex digits.

    Only ``[0-9a-f]``, so it is also a valid RQ job id part.
    """
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def set_message(
    submission: Submission,
    kind: MessageKind,
    *,
    status: MessageStatus,
    attempt: bool = False,
    error: SmtpError | None = None,
    message_id: str | None = None,
    refused: dict[str, SmtpError] | None = None,
    reply_id: str | None = None,
) -> None:
    """Record a step of message ``kind``'s delivery (of reply ``reply_id``, for a reply): its
    ``status``; one more attempt when ``attempt``; the last ``error``; recipients the relay
    ``refused``; the relay's ``message_id`` (and when it was first sent). The staff message's
    outcome is the submission's: ``notified`` when sent, ``failed`` when failed (a quarantined
    submission keeps its status). Nothing when the submission has no such message.
    """
    state = submission.message(kind, reply_id)
    if state is None:
        return
    state.status = status
    if attempt:
        state.attempts += 1
    if error is not None:
        state.last_error = error
    if refused is not None:
        state.refused = refused
    if message_id is not None:
        state.message_id = message_id
        state.sent_at = state.sent_at or dt.datetime.now(dt.UTC)
    if kind == "staff" and submission.status != "quarantined":
        if status == "sent":
            submission.status = "notified"
        elif status == "failed":
            submission.status = "failed"


encoder = msgspec.json.Encoder()
decoder = msgspec.json.Decoder(Submission)
