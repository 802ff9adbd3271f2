"""Relay replies as real relays word them lose the visitor's address, host names and quotations,
and keep their codes and own words; a submission's values go wherever they appear."""

from __future__ import annotations

import datetime as dt

import pytest

from frontdesk.submissions.record import PhoneInfo, Submission
from worker.redact import redact_reply, scrub, visitor_values


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (  # Postfix
            "4.1.2 <ann@example.com>: Recipient address rejected: Domain not found",
            "4.1.2 [redacted]: Recipient address rejected: Domain not found",
        ),
        (  # Gmail
            "5.1.1 The email account that you tried to reach does not exist. Please try\n"
            "5.1.1 double-checking the recipient's email address. https://support.google.com/mail",
            "5.1.1 The email account that you tried to reach does not exist. Please try\n"
            "5.1.1 double-checking the recipient's email address. https://[redacted]/mail",
        ),
        (  # Exim, an address without brackets
            "550 unrouteable address: ann.smith@mail.example.org",
            "550 unrouteable address: [redacted]",
        ),
        (  # Microsoft, the host in parentheses
            "5.4.1 Recipient address rejected: Access denied. [AM0PR01MB1234.eurprd01.prod.outlook.com]",
            "5.4.1 Recipient address rejected: Access denied. [[redacted]]",
        ),
        (  # a content filter quoting the subject
            "4.7.1 message 'New inquiry from Ann Example' greylisted",
            "4.7.1 message [redacted] greylisted",
        ),
        ("2.0.0 Ok: queued as 4F3A21C0", "2.0.0 Ok: queued as 4F3A21C0"),
        ("4.3.0 Drill: try again later", "4.3.0 Drill: try again later"),
    ],
)
def test_relay_replies_keep_codes_and_words_not_addresses(reply: str, expected: str) -> None:
    assert redact_reply(reply) == expected


SUBMISSION = Submission(
    id="01a2477607c32247f56091b383d7",
    form="contact",
    status="received",
    created_at=dt.datetime(2026, 12, 5, tzinfo=dt.UTC),
    fields={
        "name": "Ann Lee-Smith",
        "email": "a.lee@clinic-patients.example",
        "phone": "(415) 555-2671",
        "message": "My knee\nhurts since the accident",
    },
    phone=PhoneInfo(
        raw="(415) 555-2671",
        e164="+14155552671",
        international="+1 415-555-2671",
        extension=None,
        region="US",
        type="fixed_line_or_mobile",
        valid=True,
    ),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user a.lee unknown", "user [redacted] unknown"),
        ("domain CLINIC-PATIENTS.EXAMPLE has no MX", "domain [redacted] has no MX"),
        ("from Ann Lee-Smith", "from [redacted]"),
        ("dear ANN, annual quota exceeded", "dear [redacted], annual quota exceeded"),
        ("callback 14155552671 or +1 415-555-2671", "callback [redacted] or [redacted]"),
        ("body: My knee\nhurts since the accident", "body: [redacted]"),
        ("mailbox full since Monday", "mailbox full since Monday"),
    ],
)
def test_scrub_removes_the_submission_values_wherever_they_are(text: str, expected: str) -> None:
    assert scrub(text, visitor_values(SUBMISSION)) == expected
