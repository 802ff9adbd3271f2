"""Email addresses through email-validator, without DNS lookups at submit time.

Policy (documented in docs/forms.md): the address must be a bare ``local@domain`` (RFC 5322
addr-spec); a pasted ``Name <address>`` is refused with ``email_display_name``; quoted local parts
are refused with ``email_quoted_local``; internationalised domains are accepted and normalised
(IDNA); non-ASCII local parts are accepted (RFC 6531) and stored as typed; the worker sends them only
over SMTPUTF8.
"""

from __future__ import annotations

import re

import msgspec
from email_validator import EmailNotValidError, validate_email

_DISPLAY_NAME = re.compile(r"<[^<>]*@[^<>]*>")


class EmailVerdict(msgspec.Struct, kw_only=True):
    """``normalized`` address when accepted, else a field ``code`` and a human ``message``."""

    normalized: str | None = None
    code: str | None = None
    message: str | None = None


def check_email(raw: str) -> EmailVerdict:
    """Judge one address; never raises. Codes: ``email_display_name``, ``email_quoted_local``,
    ``invalid_email``.
    """
    text = raw.strip()
    if _DISPLAY_NAME.search(text):
        return EmailVerdict(
            code="email_display_name",
            message="Enter only the email address, without a name or angle brackets.",
        )
    if text.startswith('"') or '"@' in text:
        return EmailVerdict(
            code="email_quoted_local", message="Quoted email addresses are not accepted."
        )
    try:
        result = validate_email(
            text, check_deliverability=False, allow_quoted_local=False, allow_display_name=False
        )
    except EmailNotValidError as exc:
        return EmailVerdict(code="invalid_email", message=str(exc))
    return EmailVerdict(normalized=result.normalized)
