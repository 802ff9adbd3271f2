"""Staff-facing words for a record's codes: flags, quarantine and skip reasons, message kinds and
delivery states, and a message's last error — so the inbox explains them in sentences, never in
codes alone (docs/inbox.md, "Delivery and resend").

Every function is pure; an unknown code gets a generic sentence naming it (a code is Frontdesk's
own word, never visitor text).
"""

from __future__ import annotations

from frontdesk.submissions.record import SmtpError, Submission
from frontdesk.submissions.staff.search import delivery_state

FLAGS: dict[str, str] = {
    "phone_unverified": "The phone number could not be verified as a real number.",
    "origin_unknown": "The post named no page it came from (no Origin or Referer): "
    "a script or an API client rather than a browser on the form page.",
    "no_token": "The post carried no form token: it was not sent from the form page, "
    "or the browser ran no JavaScript.",
    "token_expired": "The form page was open longer than the form's token lifetime.",
    "honeypot": "A field hidden from people was filled in, as spam robots do.",
    "token_too_young": "The form was sent faster than a person can fill it in.",
    "token_forged": "The form token was not one Frontdesk signed.",
    "captcha_failed": "The CAPTCHA was not solved.",
    "captcha_unavailable": "The CAPTCHA provider could not be asked, so the post was held.",
    "form_cap": "The form had reached its hourly limit, so the post was held.",
}
"""A flag or quarantine reason → one sentence."""

SKIP_REASONS: dict[str, str] = {
    "no_token": "not sent: the post did not come from the form page",
    "origin_unknown": "not sent: the post named no page it came from",
    "address_limit": "not sent: this address had its auto-replies for the day",
    "domain_limit": "not sent: this mail domain had its auto-replies for the hour",
}
"""Why an auto-reply was skipped → words."""

KINDS: dict[str, str] = {
    "staff": "Staff notification",
    "auto_reply": "Auto-reply to the visitor",
    "webhook": "Webhook",
}

STATUSES: dict[str, str] = {
    "queued": "queued, waiting for the worker",
    "sending": "being sent",
    "sent": "sent",
    "failed": "failed",
    "skipped": "skipped",
}

SUBMISSION_STATUSES: dict[str, str] = {
    "received": "received, staff mail not sent yet",
    "quarantined": "quarantined (held, nothing sent)",
    "notified": "staff notified",
    "failed": "staff notification failed",
}

DELIVERY: dict[str, str] = {
    "queued": "waiting to be sent",
    "notified": "staff notified",
    "failed": "failed",
    "quarantined": "quarantined",
}
"""A delivery state of the list's filter (:data:`~frontdesk.submissions.staff.search.DeliveryState`)
→ words."""

INQUIRY_STATUSES: dict[str, str] = {
    "new": "new",
    "in_progress": "in progress",
    "answered": "answered",
    "closed": "closed",
}


def delivery(record: Submission) -> str:
    """The words of ``record``'s delivery state as the list's filter sees it."""
    return DELIVERY[delivery_state(record)]


def inquiry_status(code: str) -> str:
    """The words of an inquiry status."""
    return INQUIRY_STATUSES.get(code, code)


def flag(code: str) -> str:
    """The sentence of flag or quarantine reason ``code``."""
    return FLAGS.get(code, f"Flagged {code}.")


def kind(code: str) -> str:
    """The name of message kind ``code``."""
    return KINDS.get(code, code)


def status(code: str) -> str:
    """The words of a message's delivery status."""
    return STATUSES.get(code, code)


def submission_status(code: str) -> str:
    """The words of a submission's delivery status."""
    return SUBMISSION_STATUSES.get(code, code)


def skip_reason(code: str | None) -> str:
    """The words of an auto-reply's skip reason (empty for none)."""
    if not code:
        return ""
    return SKIP_REASONS.get(code, f"not sent ({code})")


def error(last: SmtpError | None) -> str:
    """A message's last failure in words: what kind of failure, then the relay's reply (already
    cleaned of visitor data by the worker); empty for none.
    """
    if last is None:
        return ""
    if last.code is None:
        what = "The mail server could not be reached"
    elif 400 <= last.code < 500:
        what = f"The mail server refused it for now ({last.code}); it is retried"
    elif 500 <= last.code < 600:
        what = f"The mail server refused it ({last.code})"
    else:
        what = f"It failed ({last.code})"
    return f"{what}: {last.text}" if last.text else f"{what}."
