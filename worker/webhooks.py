"""Webhook deliveries: a JSON POST of a submission, signed with HMAC-SHA256.

Headers: ``Content-Type: application/json``, ``Frontdesk-Signature: t=<unix seconds>,v1=<hex>``
where ``v1`` is HMAC-SHA256 (key: the site's secret key) over ``<t>.<raw body>`` (the scheme
Stripe and others use: the timestamp lets receivers refuse replays), ``Frontdesk-Delivery`` (a
stable id: ``<submission id>.webhook``, for receivers to drop repeats) and ``Frontdesk-Form``.

Outcomes follow RFC 9110: 2xx delivered; 408, 429, 5xx, connection errors and timeouts are
transient (retried on the email schedule); any other status is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.error
import urllib.request

import msgspec
import redis

from frontdesk.settings import Settings
from services.forms.record import KEY_PREFIX, PhoneInfo, Submission
from worker.smtp import DeliveryError

SECRET_KEY = f"{KEY_PREFIX}secret-key"


class Payload(msgspec.Struct, kw_only=True):
    """The webhook body: the submission without its delivery state."""

    id: str
    form: str
    created_at: str
    fields: dict[str, str]
    phone: PhoneInfo | None
    flags: list[str]


def secret_key(connection: redis.Redis, settings: Settings) -> bytes:
    """``FRONTDESK_SECRET_KEY``, or one generated once and kept in Redis (``SET NX``), shared by
    every replica (DESIGN.md "Settings").
    """
    if settings.secret_key:
        return settings.secret_key.encode()
    connection.set(SECRET_KEY, secrets.token_hex(32), nx=True)
    raw = connection.get(SECRET_KEY)
    assert raw is not None
    return raw if isinstance(raw, bytes) else str(raw).encode()


def signature(key: bytes, timestamp: int, body: bytes) -> str:
    """The ``Frontdesk-Signature`` value: ``t=<timestamp>,v1=<hex HMAC-SHA256 of "t.body">``."""
    digest = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def body_of(submission: Submission) -> bytes:
    """The JSON body posted for ``submission``."""
    payload = Payload(
        id=submission.id,
        form=submission.form,
        created_at=submission.created_at.isoformat(),
        fields=submission.fields,
        phone=submission.phone,
        flags=submission.flags,
    )
    return msgspec.json.encode(payload)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as an error (a permanent one): a signed POST is not re-sent elsewhere."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, submission: Submission, key: bytes, timeout: float) -> int:
    """POST the signed submission to ``url``; returns the 2xx status.

    Raises :class:`~worker.smtp.DeliveryError` (``code`` = HTTP status, ``None`` without one).
    """
    body = body_of(submission)
    request = urllib.request.Request(  # noqa: S310 - the form definition allows only http(s)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Frontdesk-Webhook",
            "Frontdesk-Signature": signature(key, int(time.time()), body),
            "Frontdesk-Delivery": f"{submission.id}.webhook",
            "Frontdesk-Form": submission.form,
        },
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        transient = exc.code in (408, 429) or exc.code >= 500
        raise DeliveryError(exc.code, str(exc.reason)[:200], permanent=not transient) from exc
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DeliveryError(None, f"{type(exc).__name__}: {exc}", permanent=False) from exc
