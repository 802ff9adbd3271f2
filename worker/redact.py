"""Visitor data out of the text of a failure, before it becomes exception text, a stored
``last_error``, RQ job data or a log line.

Relays quote what they refuse: ``450 4.1.2 <ann@example.com>: Recipient address rejected``, a
content filter the Subject (the visitor's name) or the Reply-To. :func:`redact_reply` removes what
looks like an address, a host name or a quotation from any reply; :func:`scrub` then removes the
values of the submission itself (its fields, the email's local part and domain, the phone in every
form it is stored in), whatever the relay wrapped them in. What is left is the reply code, the
enhanced status code (RFC 3463) and the relay's own words: enough to tell a full mailbox from a
policy refusal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from frontdesk.submissions.record import Submission

REDACTED = "[redacted]"
# RFC 5321 paths and anything else in angle brackets (a Message-ID holds the sender's domain only,
# but a relay may quote a header).
_BRACKETED = re.compile(r"<[^<>]*>")
# addr-spec-like: something@something, up to whitespace, brackets, quotes or a closing paren.
_ADDRESS = re.compile(r"[^\s<>()\[\]'\",;]*@[^\s<>()\[\]'\",;]+")
# Quotations: a relay quoting a Subject or a display name.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
# Host names: two or more labels, the last alphabetic (RFC 1123; "4.1.2" and "2.0.0" stay).
_HOST = re.compile(r"\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\b\.?")
# Values shorter than this are not searched for: "Al" would cut "Already" out of the relay's words.
_SHORTEST_VALUE = 3
# One-line values up to this many characters are also searched for word by word (a relay may
# quote the first name alone); a message's words would cut the relay's own words out.
_LONGEST_SPLIT = 120


def redact_reply(text: str) -> str:
    """``text`` (an SMTP reply, an exception's text) without bracketed parts, addresses,
    quotations or host names, each replaced by ``[redacted]``.
    """
    for pattern in (_BRACKETED, _ADDRESS, _QUOTED, _HOST):
        text = pattern.sub(REDACTED, text)
    return text


def visitor_values(submission: Submission) -> list[str]:
    """What the visitor typed, in every form a relay could quote it: each field value, each word
    of a one-line value (a name, a subject field; not of a message), an email's local part and
    domain, the phone as typed, in E.164 (with and without ``+``),
    international and national form. Longest first, so a value goes before the words in it.
    """
    values: set[str] = set()
    for value in submission.fields.values():
        values.add(value)
        if "\n" not in value and len(value) <= _LONGEST_SPLIT:
            values.update(value.split())
        if "@" in value:
            values.update(value.rsplit("@", 1))
    phone = submission.phone
    if phone is not None:
        forms = [phone.raw, phone.e164, phone.international, phone.extension]
        values.update(f for f in forms if f)
        if phone.e164:
            values.add(phone.e164.lstrip("+"))
    return sorted((v for v in values if len(v) >= _SHORTEST_VALUE), key=len, reverse=True)


def scrub(text: str, values: Iterable[str]) -> str:
    """``text`` with every one of ``values`` (case-insensitive) replaced by ``[redacted]``.

    A value made of word characters at its ends is only replaced as a whole word, so "Ann" leaves
    "Annual" alone.
    """
    for value in values:
        pattern = re.escape(value)
        if value[0].isalnum():
            pattern = r"(?<!\w)" + pattern
        if value[-1].isalnum():
            pattern += r"(?!\w)"
        text = re.sub(pattern, REDACTED, text, flags=re.IGNORECASE)
    return text
