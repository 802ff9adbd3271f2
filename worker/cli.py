"""``frontdesk send-test``: one test email through the configured relay, printing its answer."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import sys
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from frontdesk.settings import Settings
from worker.smtp import DeliveryError, deliver


def send_test(settings: Settings, to: str, sender: str | None) -> int:
    """Send a short test message to ``to``; the sender defaults to the first form's sender.

    Prints the relay's answer; returns 0 when the relay accepted it, 1 otherwise (2 for an address
    that is not one: checked with email-validator, the same rules as a form's email field).
    """
    from frontdesk.submissions.emails import check_email

    verdict = check_email(to)
    if verdict.normalized is None:
        print(f"frontdesk send-test: --to {to!r}: {verdict.message}", file=sys.stderr)
        return 2
    to = verdict.normalized
    if sender is None:
        from frontdesk.submissions.definition import FormsError, load_forms

        try:
            forms = load_forms(settings.site_dir, settings.recipient_domains)
        except FormsError:
            forms = {}
        sender = next((f.sender for f in forms.values()), f"frontdesk@{socket.getfqdn()}")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "Frontdesk test email"
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    message["Message-ID"] = make_msgid("frontdesk-test")
    relay = f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})"
    message.set_content(f"This test email went through {relay}.\n")
    try:
        accepted = asyncio.run(deliver(message, [to], settings))
    except DeliveryError as exc:
        kind = "permanent" if exc.permanent else "transient"
        print(f"not sent ({kind}): {exc.code or '-'} {exc.text}", file=sys.stderr)
        return 1
    print(f"sent through {relay}: {accepted.reply}")
    for address, reply in accepted.refused.items():
        print(f"refused {address}: {reply}")
    return 0
