"""Composes the emails of a submission with jinja2 (autoescape on for HTML).

Headers: From = the form's sender, To = its recipients or the route of the submission's value
(staff) or the visitor (auto-reply, reply), Cc = the form's ``cc`` (staff), Reply-To = the visitor
(staff mail only), Subject from the form's template with the visitor's
values cleaned, Date, and a Message-ID derived from the submission id and the sender's domain, so a
repeated send carries the same Message-ID. The auto-reply carries ``Auto-Submitted: auto-replied``
(RFC 3834 §5) and text from the form definition only: its templates get no visitor value.
The form's ``bcc`` addresses are envelope recipients only (:func:`recipients_of`): no header names
them.

A form with ``notify: summary`` sends staff a summary instead (:func:`summary_message`): the form,
the time and a link to the inquiry in the inbox, a fixed subject, no Reply-To; its templates get no
visitor value. A reply from the inbox (:func:`reply_message`) is staff's text signed with their
name, To the visitor, Reply-To the form's staff mailbox, its subject and thread headers as recorded
(frontdesk/submissions/replies.py); it is plain text and uses no template.

Non-ASCII display names and subjects are left to the ``email`` package, which writes them as RFC 2047
encoded-words when the message is flattened for a 7-bit/8-bit relay, or as UTF-8 over SMTPUTF8
(RFC 6532). Addresses are never encoded: see :func:`worker.smtp.deliver` for the non-ASCII mailbox
policy.

Headers are structure, never visitor text: the forms service refuses RFC 2047 encoded words in
every value that reaches a header, and :func:`verify_written` checks the bytes about to be sent
against the headers built, so a record stored before that rule (or an ``email`` package that turns
text into structure, CVE-2024-6923) fails the message instead of sending it.

Templates (``staff.txt.j2``, ``staff.html.j2``, ``staff_summary.txt.j2``,
``staff_summary.html.j2``, ``auto_reply.txt.j2``, ``auto_reply.html.j2``) are looked up in
``<site>/templates/<form id>/``, then ``<site>/templates/``, then the shipped defaults.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser, HeaderParser
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any

import jinja2

from frontdesk.submissions.definition import AutoReply, FormDefinition
from frontdesk.submissions.record import Reply, Submission
from worker.templates import render, sandboxed_environments

TEMPLATES = Path(__file__).parent / "templates"
_SPACE = re.compile(r"\s+")

Environments = tuple[jinja2.Environment, jinja2.Environment]


def build_environment(site_dir: Path | None = None, form_id: str | None = None) -> Environments:
    """(text, html) jinja2 environments; HTML autoescapes. Site templates override shipped ones:
    ``<site_dir>/templates/<form_id>/`` first, then ``<site_dir>/templates/``, then ours.

    Built once per form by the worker's job context (:mod:`worker.context`), which compiles the
    templates ahead: compiling costs more than sending the mail. jinja2 still reloads a template
    whose file changed (``auto_reload``).
    """
    paths: list[Path] = []
    if site_dir is not None:
        if form_id is not None:
            paths.append(site_dir / "templates" / form_id)
        paths.append(site_dir / "templates")
    paths.append(TEMPLATES)
    # Site templates are an editor's content: sandboxed, and never read through a link.
    return sandboxed_environments(paths, site_dir)


TEMPLATE_NAMES = (
    "staff.txt.j2",
    "staff.html.j2",
    "staff_summary.txt.j2",
    "staff_summary.html.j2",
    "auto_reply.txt.j2",
    "auto_reply.html.j2",
)
SUMMARY_SUBJECT = "New inquiry via {form}"
"""The subject of a summary staff email: the form's title, never a visitor's value."""
# An RFC 2047 encoded word's delimiters (the forms service refuses them in header values).
_ENCODED_WORD = re.compile(r"=\?|\?=")


def clean_header_value(value: str, limit: int = 120) -> str:
    """One line of at most ``limit`` characters: whitespace (CR/LF included) folded to single spaces."""
    text = _SPACE.sub(" ", value).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def subject_for(form: FormDefinition, submission: Submission) -> str:
    """The form's subject template (``{field}`` placeholders, ``{form}``) filled with cleaned values."""
    values = _Values({k: clean_header_value(v, 60) for k, v in submission.fields.items()})
    values["form"] = form.title
    return clean_header_value(form.subject.format_map(values), 200)


def message_id(submission: Submission, kind: str, sender: str) -> str:
    """``<submission id>.<kind>@<sender domain>`` in angle brackets (RFC 5322 msg-id)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "frontdesk.invalid"
    return f"<{submission.id}.{kind}@{domain}>"


def visitor_address(form: FormDefinition, submission: Submission) -> Address | None:
    """The visitor's mailbox (the form's first ``email`` field) with their cleaned name, if given."""
    field = next((f for f in form.fields if f.type == "email"), None)
    value = submission.fields.get(field.name, "") if field else ""
    if "@" not in value:
        return None
    local, _, domain = value.rpartition("@")
    name = clean_header_value(submission.fields.get("name", ""), 80)
    return Address(display_name=name, username=local, domain=domain)


FLAG_NOTES = {
    "phone_unverified": "the phone number is possible but not valid for its region (libphonenumber)",
    "origin_unknown": "sent without Origin or Referer (an API client, curl, or a privacy setting)",
    "no_token": "sent without the form's time-trap token (no JavaScript, or not from the form page)",
    "form_cap": "held past the form's hourly cap (a flood of posts), then released by staff",
}


def staff_context(form: FormDefinition, submission: Submission) -> dict[str, Any]:
    """The staff templates' context: the form, and everything the visitor sent."""
    return {
        "flag_notes": [(flag, FLAG_NOTES.get(flag, "")) for flag in submission.flags],
        "form": form,
        "submission": submission,
        "fields": submission.fields,
        "phone": submission.phone,
        "flags": submission.flags,
        # Where the inquiry came from (a Source, or None for a record kept without one).
        "source": submission.source,
    }


AUTO_REPLY_NAMES = ("form", "auto_reply", "paragraphs")


def auto_reply_context(form: FormDefinition, auto_reply: AutoReply) -> dict[str, Any]:
    """The auto-reply templates' context (:data:`AUTO_REPLY_NAMES`): the form's definition and its
    ``auto_reply`` text, never a visitor's value. Anyone can post anyone's address, so whatever an
    auto-reply says goes to a stranger; with no visitor value in reach, a template cannot make the
    form mail a poster's text to them (a name such as ``fields`` is undefined: the message fails).
    """
    return {
        "form": form,
        "auto_reply": auto_reply,
        "paragraphs": [p.strip() for p in re.split(r"\n\s*\n", auto_reply.body) if p.strip()],
    }


def _base(form: FormDefinition, submission: Submission, kind: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = form.sender
    message["Date"] = format_datetime(submission.created_at)
    message["Message-ID"] = message_id(submission, kind, form.sender)
    return message


SUMMARY_NAMES = ("form", "received", "link")


def summary_context(form: FormDefinition, submission: Submission, inbox_url: str) -> dict[str, Any]:
    """The summary templates' context (:data:`SUMMARY_NAMES`): the form's definition, when the
    inquiry was received (UTC) and the link to it in the inbox; never a visitor's value.
    """
    return {
        "form": form,
        "received": submission.created_at,
        "link": inquiry_link(inbox_url, submission.id),
    }


def inquiry_link(inbox_url: str, submission_id: str) -> str:
    """The inquiry's page in the inbox: ``<inbox URL>/inquiries/<id>``."""
    return f"{inbox_url.rstrip('/')}/inquiries/{submission_id}"


def staff_message(
    form: FormDefinition, submission: Submission, envs: Environments, inbox_url: str = ""
) -> EmailMessage:
    """The staff notification: text and HTML parts, To the form's recipients or the route of the
    submission's value (:meth:`~frontdesk.submissions.definition.FormDefinition.staff_recipients`),
    Cc the form's ``cc``, Reply-To the visitor's email field; the summary of
    :func:`summary_message` for a form with ``notify: summary``. The form's ``bcc`` is not in it:
    pass it to :func:`recipients_of` for the envelope.
    """
    if form.notify == "summary":
        return summary_message(form, submission, envs, inbox_url)
    context = staff_context(form, submission)
    text_env, html_env = envs
    message = _base(form, submission, "staff")
    message["To"] = ", ".join(form.staff_recipients(submission.fields))
    if form.cc:
        message["Cc"] = ", ".join(form.cc)
    visitor = visitor_address(form, submission)
    if visitor is not None:
        message["Reply-To"] = visitor
    message["Subject"] = subject_for(form, submission)
    message.set_content(render(text_env, "staff.txt.j2", context))
    message.add_alternative(render(html_env, "staff.html.j2", context), subtype="html")
    return message


def summary_message(
    form: FormDefinition, submission: Submission, envs: Environments, inbox_url: str
) -> EmailMessage:
    """The staff notification of a ``notify: summary`` form: no visitor data in any header or
    part. To and Cc as :func:`staff_message` (addresses the editor chose), no Reply-To, the subject
    :data:`SUMMARY_SUBJECT`, and the summary templates, which get :func:`summary_context` only.
    """
    context = summary_context(form, submission, inbox_url)
    text_env, html_env = envs
    message = _base(form, submission, "staff")
    message["To"] = ", ".join(form.staff_recipients(submission.fields))
    if form.cc:
        message["Cc"] = ", ".join(form.cc)
    message["Subject"] = clean_header_value(SUMMARY_SUBJECT.format(form=form.title), 200)
    try:
        text = render(text_env, "staff_summary.txt.j2", context)
        html = render(html_env, "staff_summary.html.j2", context)
    except jinja2.UndefinedError as exc:
        raise jinja2.UndefinedError(
            f"{exc.message}; a summary template gets only {', '.join(SUMMARY_NAMES)}"
            " (no visitor value)"
        ) from None
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def reply_message(
    form: FormDefinition, submission: Submission, reply: Reply
) -> EmailMessage | None:
    """Staff's reply from the inbox, or ``None`` when the inquiry has no email address: From the
    form's sender, To the visitor (their name as stored, left out when it holds an encoded word's
    delimiter), Reply-To the form's staff mailbox
    (:meth:`~frontdesk.submissions.definition.FormDefinition.staff_mailbox`), the subject,
    Message-ID, In-Reply-To and References recorded with the reply; the text, then the signature.
    """
    visitor = visitor_address(form, submission)
    if visitor is None:
        return None
    if _ENCODED_WORD.search(visitor.display_name):
        visitor = Address(username=visitor.username, domain=visitor.domain)
    message = EmailMessage()
    message["From"] = form.sender
    message["To"] = visitor
    mailbox = form.staff_mailbox()
    if mailbox:
        message["Reply-To"] = mailbox
    message["Subject"] = clean_header_value(reply.subject or f"Re: {form.title}", 200)
    message["Date"] = format_datetime(reply.at)
    message["Message-ID"] = reply.message_id or message_id(
        submission, f"reply-{reply.id}", form.sender
    )
    if reply.in_reply_to:
        message["In-Reply-To"] = reply.in_reply_to
    if reply.references:
        message["References"] = " ".join(reply.references)
    message.set_content(f"{reply.text}\n\n{reply.signature or reply.author}\n")
    return message


def auto_reply_message(
    form: FormDefinition, submission: Submission, envs: Environments
) -> EmailMessage | None:
    """The visitor's confirmation, or ``None`` when the form has no auto-reply or no email field.

    Its subject and body come from ``form.auto_reply`` only, and its templates get no visitor value
    (:func:`auto_reply_context`); the visitor's name is not even used in To, so nothing typed by a
    visitor reaches a third party through it.
    """
    visitor = visitor_address(form, submission)
    if form.auto_reply is None or visitor is None:
        return None
    context = auto_reply_context(form, form.auto_reply)
    text_env, html_env = envs
    message = _base(form, submission, "auto_reply")
    message["To"] = Address(username=visitor.username, domain=visitor.domain)
    message["Subject"] = clean_header_value(form.auto_reply.subject, 200)
    message["Auto-Submitted"] = "auto-replied"
    # Keeps Exchange out-of-office replies from answering the auto-reply.
    message["X-Auto-Response-Suppress"] = "All"
    try:
        text = render(text_env, "auto_reply.txt.j2", context)
        html = render(html_env, "auto_reply.html.j2", context)
    except jinja2.UndefinedError as exc:
        # Says why on the record: the template was most likely written for the staff context.
        raise jinja2.UndefinedError(
            f"{exc.message}; an auto-reply template gets only {', '.join(AUTO_REPLY_NAMES)}"
            " (no visitor value)"
        ) from None
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def recipients_of(message: EmailMessage, bcc: Sequence[str] = ()) -> list[str]:
    """The envelope recipients (RCPT TO): every address of To and Cc, then the blind copies
    ``bcc``, which no header names; each address once (compared without case), in that order.
    """
    named = [
        address.addr_spec
        for key in ("To", "Cc")
        for header in message.get_all(key, [])
        for address in header.addresses
    ]
    seen: set[str] = set()
    recipients: list[str] = []
    for address in [*named, *bcc]:
        if address.lower() not in seen:
            seen.add(address.lower())
            recipients.append(address)
    return recipients


class HeadersChanged(Exception):
    """The bytes about to be sent do not carry the headers that were built.

    Its text names only headers the worker built, never a value: it is stored as the message's
    ``last_error`` and logged.
    """


_ADDRESS_HEADERS = frozenset({"from", "sender", "to", "cc", "bcc", "reply-to"})


def _header_set(message: EmailMessage) -> list[tuple[str, object]]:
    """Each header in order as (lower-case name, value): the (display name, addr-spec) pairs of an
    address header; the type and parameters of Content-Type but its ``boundary`` (the generator
    adds one when writing); else the text. Whitespace is left out of display names and text:
    folding may move it, RFC 2047 drops it between adjacent encoded words, and Python adds a
    space where it splits an encoded word in a display name; any other change still shows.
    """
    headers: list[tuple[str, object]] = []
    for name, value in message.items():
        key = name.lower()
        if key in _ADDRESS_HEADERS:
            addresses = tuple(
                (_SPACE.sub("", a.display_name), a.addr_spec) for a in value.addresses
            )
            headers.append((key, addresses))
        elif key == "content-type":
            params = sorted((k, v) for k, v in value.params.items() if k != "boundary")
            headers.append((key, (value.content_type, tuple(params))))
        else:
            headers.append((key, _SPACE.sub("", str(value))))
    return headers


def verify_written(message: EmailMessage, written: bytes, *, utf8: bool) -> None:
    """Parse ``written`` (``message`` flattened for the relay; UTF-8 headers when ``utf8``, RFC 6532)
    with ``email.policy.strict`` and compare its headers with those of ``message``: the same names in
    the same order, the same addresses, the same text.

    Raises :class:`HeadersChanged` when they differ or ``written`` does not parse: a header was
    added (a ``Bcc:``), lost, cut short (a blank line that starts the body) or rewritten (a display
    name that became an address).
    """
    try:
        # The header section only: the first empty line ends it (RFC 5322 §2.1), so a header cut
        # short by an injected blank line shows as missing headers.
        parsed = (
            HeaderParser(policy=policy.strict).parsestr(written.decode("utf-8"))
            if utf8
            else BytesHeaderParser(policy=policy.strict).parsebytes(written)
        )
        found = _header_set(parsed)
    except Exception:  # any parse error or defect: not what was built
        raise HeadersChanged(
            "refused, not sent: the message as written for the relay does not parse"
            " (email.policy.strict)"
        ) from None
    built = _header_set(message)
    if found != built:
        names = message.keys()
        differs = next(
            (i for i, (one, other) in enumerate(zip(built, found, strict=False)) if one != other),
            min(len(built), len(found)),
        )
        where = f"at {names[differs]}" if differs < len(names) else "after the last one built"
        raise HeadersChanged(
            f"refused, not sent: the message as written for the relay has other headers than"
            f" the {len(built)} built (first difference {where}); a header built from visitor"
            " text would have changed"
        )
