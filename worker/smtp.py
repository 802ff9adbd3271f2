"""Sending one message through the configured relay with aiosmtplib (one connection per job).

Errors are sorted into transient (SMTP 4xx, connection errors, timeouts: retry with backoff) and
permanent (5xx, every recipient refused, a feature the relay lacks: no retry), per RFC 5321 §4.2.1.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage

import aiosmtplib

from frontdesk.settings import Settings


class DeliveryError(Exception):
    """A send failed; ``code`` is the SMTP reply code (``None`` for connection problems)."""

    def __init__(self, code: int | None, text: str, *, permanent: bool) -> None:
        super().__init__(f"{code or '-'} {text}")
        self.code = code
        self.text = text
        self.permanent = permanent


def tls_context(settings: Settings) -> ssl.SSLContext:
    """A verifying TLS context, trusting ``FRONTDESK_SMTP_CA_FILE`` when set (else the system store)."""
    cafile = str(settings.smtp_ca_file) if settings.smtp_ca_file else None
    return ssl.create_default_context(cafile=cafile)


async def deliver(
    message: EmailMessage, recipients: list[str], settings: Settings
) -> dict[str, str]:
    """Send ``message`` to ``recipients``; returns the refused recipients (address → reply).

    Raises :class:`DeliveryError` (``permanent`` or not) when nothing was delivered.
    """
    security = settings.smtp_security
    try:
        refused, _ = await aiosmtplib.send(
            message,
            recipients=recipients,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            use_tls=security == "tls",
            start_tls=security == "starttls",
            tls_context=tls_context(settings) if security != "none" else None,
            timeout=settings.smtp_timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        transient = all(400 <= c < 500 for c in codes)
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        raise DeliveryError(codes[0] if codes else None, text, permanent=not transient) from exc
    except aiosmtplib.SMTPResponseException as exc:
        permanent = not 400 <= exc.code < 500
        raise DeliveryError(exc.code, exc.message, permanent=permanent) from exc
    except aiosmtplib.SMTPNotSupported as exc:
        raise DeliveryError(None, str(exc), permanent=True) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise DeliveryError(None, f"{type(exc).__name__}: {exc}", permanent=False) from exc
    return {address: f"{reply.code} {reply.message}" for address, reply in refused.items()}
