"""Sending one message through the configured relay with aiosmtplib (one connection per job).

Errors are sorted into transient (SMTP 4xx, connection errors, timeouts: retry with backoff) and
permanent (5xx, every recipient refused, a feature the relay lacks: no retry), per RFC 5321 §4.2.1.

Once the relay has answered DATA with 2xx the message is its responsibility (RFC 5321 §4.1.1.4): a
QUIT that hangs or fails afterwards is logged and ignored, so a slow relay never causes a second copy.

Non-ASCII mailboxes (RFC 6531): a message whose From, To, Cc or Reply-To holds a non-ASCII
addr-spec is sent with ``SMTPUTF8`` and UTF-8 headers (RFC 6532). When the relay does not offer
SMTPUTF8, a non-ASCII Reply-To is dropped (the visitor's address stays in the body) and any other
non-ASCII address fails the message permanently. An address is never written as an encoded-word.

A relay's reply is redacted (:func:`worker.redact.redact_reply`: addresses, host names, quotations)
before it becomes a :class:`DeliveryError`, whose cause (aiosmtplib's exception with the raw
reply) is not chained, so RQ's traceback of a retried job carries no visitor address.

The bytes written for the relay are parsed back and compared with the headers built
(:func:`worker.messages.verify_written`) before DATA: a difference fails the message permanently.

Blind copies are envelope recipients (``RCPT TO``) only: ``recipients`` may hold addresses no
header names, and a message that carries a ``Bcc`` header is refused, never sent, so no copy
reveals who else got it.
"""

from __future__ import annotations

import logging
import ssl
from email.message import EmailMessage

import aiosmtplib
from aiosmtplib.email import flatten_message

from frontdesk.settings import Settings
from worker.messages import HeadersChanged, verify_written
from worker.redact import redact_reply

log = logging.getLogger("frontdesk.worker")

QUIT_TIMEOUT = 5.0
_ADDRESS_HEADERS = ("From", "To", "Cc", "Reply-To")


class DeliveryError(Exception):
    """A send failed; ``code`` is the SMTP reply code (``None`` for connection problems).

    ``text`` is stored as the message's ``last_error`` and appears in RQ's traceback: build it
    from redacted replies only.
    """

    def __init__(self, code: int | None, text: str, *, permanent: bool) -> None:
        super().__init__(f"{code or '-'} {text}")
        self.code = code
        self.text = text
        self.permanent = permanent


class Accepted:
    """The relay's answer to a delivered message: refused recipients (address → reply) and the
    DATA reply text.
    """

    def __init__(self, refused: dict[str, str], reply: str) -> None:
        self.refused = refused
        self.reply = reply


def tls_context(settings: Settings) -> ssl.SSLContext:
    """A verifying TLS context, trusting ``FRONTDESK_SMTP_CA_FILE`` when set (else the system store)."""
    cafile = str(settings.smtp_ca_file) if settings.smtp_ca_file else None
    return ssl.create_default_context(cafile=cafile)


def _non_ascii_headers(message: EmailMessage) -> list[str]:
    return [
        key
        for key in _ADDRESS_HEADERS
        for header in message.get_all(key, [])
        if not all(a.addr_spec.isascii() for a in header.addresses)
    ]


def client_for(settings: Settings) -> aiosmtplib.SMTP:
    """An unconnected aiosmtplib client for the configured relay (security, credentials, timeout)."""
    security = settings.smtp_security
    return aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        use_tls=security == "tls",
        start_tls=security == "starttls",
        tls_context=tls_context(settings) if security != "none" else None,
        timeout=settings.smtp_timeout,
    )


def _classify(exc: Exception) -> DeliveryError:
    """The :class:`DeliveryError` of an aiosmtplib or socket error, its text redacted."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        transient = all(400 <= c < 500 for c in codes)
        texts = [(r.code, redact_reply(r.message)) for r in exc.recipients]
        text = texts[0][1] if len(texts) == 1 else "; ".join(f"{c} {t}" for c, t in texts)
        return DeliveryError(codes[0] if codes else None, text, permanent=not transient)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = redact_reply(exc.message)
        return DeliveryError(exc.code, text, permanent=not 400 <= exc.code < 500)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return DeliveryError(None, redact_reply(str(exc)), permanent=True)
    return DeliveryError(None, redact_reply(f"{type(exc).__name__}: {exc}"), permanent=False)


def _written(message: EmailMessage, *, utf8: bool, cte_type: str) -> bytes:
    """``message`` as the bytes DATA sends, checked against the headers built.

    Raises :class:`~worker.messages.HeadersChanged` when they differ, and when the ``email``
    package refuses to write a header (a patched interpreter raises ``HeaderWriteError`` where an
    unpatched one writes a line break, CVE-2024-6923): either way, nothing is sent.
    """
    if "Bcc" in message:
        # aiosmtplib's send_message would drop it; sendmail sends bytes as they are.
        raise HeadersChanged("refused, not sent: a Bcc header would name the blind copies")
    try:
        flat = flatten_message(message, utf8=utf8, cte_type=cte_type)
    except Exception:  # what the email package cannot write is not sent; its text may quote values
        raise HeadersChanged(
            "refused, not sent: the email package could not write the headers built"
        ) from None
    verify_written(message, flat, utf8=utf8)
    return flat


async def deliver(message: EmailMessage, recipients: list[str], settings: Settings) -> Accepted:
    """Send ``message`` to ``recipients`` (every ``RCPT TO``: To, Cc and blind copies) over one
    connection; returns what the relay accepted.

    The envelope sender is the From address. Raises :class:`DeliveryError` (``permanent`` or not)
    when nothing was delivered; never after the relay accepted DATA.
    """
    client = client_for(settings)
    try:
        await client.connect()
        # Extensions (SMTPUTF8, 8BITMIME) are known only after EHLO; connect() says it only for
        # STARTTLS or AUTH. An ancient relay that refuses EHLO gets HELO (RFC 5321 §3.2).
        if client.is_ehlo_or_helo_needed:
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        mail_options: list[str] = []
        non_ascii = _non_ascii_headers(message)
        utf8 = bool(non_ascii) or not all(r.isascii() for r in recipients)
        if utf8 and not client.supports_extension("smtputf8"):
            if non_ascii == ["Reply-To"] and all(r.isascii() for r in recipients):
                del message["Reply-To"]
                utf8 = False
            else:
                raise aiosmtplib.SMTPNotSupported(
                    "a mailbox is not ASCII and the relay does not offer SMTPUTF8 (RFC 6531)"
                )
        if utf8:
            mail_options.append("SMTPUTF8")
        cte_type = "7bit"
        if client.supports_extension("8bitmime"):
            mail_options.append("BODY=8BITMIME")
            cte_type = "8bit"
        sender = message["From"].addresses[0].addr_spec
        flat = _written(message, utf8=utf8, cte_type=cte_type)
        refused, reply = await client.sendmail(sender, recipients, flat, mail_options=mail_options)
    except HeadersChanged as exc:
        client.close()
        raise DeliveryError(None, str(exc), permanent=True) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        client.close()
        # Not chained: the cause's text is the raw reply, and RQ logs the whole traceback.
        raise _classify(exc) from None
    try:
        await client.quit(timeout=min(QUIT_TIMEOUT, settings.smtp_timeout))
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        log.info("relay did not close cleanly after accepting the message: %s", _classify(exc))
        client.close()
    refusals = {a: f"{r.code} {redact_reply(r.message)}" for a, r in refused.items()}
    return Accepted(refusals, redact_reply(reply))


class ProbeError(Exception):
    """The relay answered, but not in the way the settings expect; the message names the settings."""


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind ``exc`` (aiosmtplib wraps those of connect() in SMTPConnectError)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _probe_error(exc: Exception, settings: Settings) -> Exception:
    """A :class:`ProbeError` naming the settings when ``exc`` says they do not fit the relay;
    else the :class:`DeliveryError` a send would have met.
    """
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    security = f"FRONTDESK_SMTP_SECURITY={settings.smtp_security}"
    tls = _ssl_cause(exc)
    if isinstance(tls, ssl.SSLCertVerificationError):
        return ProbeError(
            f"the relay {where} presented a certificate that does not verify ({tls.verify_message});"
            " set FRONTDESK_SMTP_CA_FILE to the CA that signed it"
        )
    if tls is not None or isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        hint = "implicit TLS (tls) is usually port 465, STARTTLS (starttls) 587 or 25"
        return ProbeError(
            f"the relay {where} does not speak {security} ({type(exc).__name__}: {exc});"
            f" check FRONTDESK_SMTP_PORT and FRONTDESK_SMTP_SECURITY: {hint}"
        )
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return ProbeError(
            f"the relay {where} refused FRONTDESK_SMTP_USERNAME/FRONTDESK_SMTP_PASSWORD:"
            f" {exc.code} {exc.message}"
        )
    if isinstance(exc, aiosmtplib.SMTPException) and any(
        word in str(exc).upper() for word in ("STARTTLS", "AUTH")
    ):
        return ProbeError(
            f"the relay {where} does not fit the settings ({exc}); check {security}"
            " and FRONTDESK_SMTP_USERNAME"
        )
    return _classify(exc)


async def probe(settings: Settings) -> str:
    """Connect to the relay with the configured security, say EHLO and quit.

    Returns a one-line description of the relay. Raises :class:`ProbeError` when the relay and the
    settings disagree (TLS against a plain port, STARTTLS not offered, a certificate that does not
    verify, credentials refused) and :class:`DeliveryError` when the relay cannot be reached.
    """
    client = client_for(settings)
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        await client.connect()
        await client.ehlo()
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        client.close()
        raise _probe_error(exc, settings) from exc
    utf8 = "yes" if client.supports_extension("smtputf8") else "no"
    banner = f"{where} ({settings.smtp_security}), SMTPUTF8 {utf8}"
    try:
        await client.quit(timeout=min(QUIT_TIMEOUT, settings.smtp_timeout))
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()
    return banner
