"""Webhook deliveries: a JSON POST of a submission, signed with HMAC-SHA256.

Headers: ``Content-Type: application/json``, ``Frontdesk-Signature: t=<unix seconds>,v1=<hex>``
where ``v1`` is HMAC-SHA256 (key: the ``webhooks`` key derived from the master key, see
:mod:`frontdesk.submissions.secret`; ``frontdesk keys webhook`` prints it for receivers)
over ``<t>.<raw body>``
(the scheme Stripe and others use: the timestamp lets receivers refuse replays),
``Frontdesk-Delivery`` (a stable id: ``<submission id>.webhook``, for receivers to drop repeats) and
``Frontdesk-Form``.

Where it goes is checked on every attempt, and the POST connects to the checked address
(:mod:`worker.destinations`). Redirects are not followed: a signed POST is not re-sent elsewhere.

Outcomes follow RFC 9110: 2xx delivered; 408, 429, 5xx, connection errors, timeouts and a host that
does not resolve are transient (retried on the email schedule); any other status, and a refused
destination, are permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import msgspec
import redis

from frontdesk.settings import Settings
from frontdesk.submissions.record import PhoneInfo, Source, Submission
from frontdesk.submissions.secret import key_for
from worker.destinations import Refused, Unresolved, check
from worker.smtp import DeliveryError


class Payload(msgspec.Struct, kw_only=True):
    """The webhook body: the submission without its delivery state."""

    id: str
    form: str
    created_at: str
    fields: dict[str, str]
    phone: PhoneInfo | None
    flags: list[str]
    source: Source | None = None


def secret_key(connection: redis.Redis, settings: Settings) -> bytes:
    """The webhook signing key: the 64-character hex text of the ``webhooks`` key derived from the
    master key, used as text (as receivers paste it; ``frontdesk keys webhook`` prints it). Raises
    ``redis.RedisError`` when the generated master key cannot be read.
    """
    return key_for(connection, settings.secret_key, "webhooks").hex().encode()


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
        source=submission.source,
    )
    return msgspec.json.encode(payload)


def post(url: str, submission: Submission, key: bytes, settings: Settings) -> int:
    """POST the signed submission to ``url``; returns the 2xx status.

    Raises :class:`~worker.smtp.DeliveryError` (``code`` = HTTP status, ``None`` without one).
    """
    body = body_of(submission)
    headers = {
        "User-Agent": "Frontdesk-Webhook",
        "Frontdesk-Signature": signature(key, int(time.time()), body),
        "Frontdesk-Delivery": f"{submission.id}.webhook",
        "Frontdesk-Form": submission.form,
    }
    return post_signed(url, body, headers, settings)


def post_signed(url: str, body: bytes, headers: dict[str, str], settings: Settings) -> int:
    """POST JSON ``body`` with ``headers`` (signed by the caller) to ``url`` after checking where
    it goes (:mod:`worker.destinations`); returns the 2xx status. Build hooks use it too.

    Raises :class:`~worker.smtp.DeliveryError` (``code`` = HTTP status, ``None`` without one).
    """
    try:
        target = check(
            url,
            allow_http=settings.webhook_allow_http,
            allow_networks=settings.webhook_allow_networks,
        )
    except Refused as exc:
        raise DeliveryError(None, str(exc), permanent=True) from None
    except Unresolved as exc:
        raise DeliveryError(None, str(exc), permanent=False) from None
    parts = httpx.URL(url)
    headers = {
        "Host": parts.netloc.decode("ascii"),
        "Content-Type": "application/json",
        **headers,
    }
    # trust_env=False: no proxy from the environment, which would resolve the host again.
    with httpx.Client(
        timeout=settings.smtp_timeout, trust_env=False, follow_redirects=False
    ) as client:
        for index, address in enumerate(target.addresses):
            try:
                response = client.post(
                    parts.copy_with(host=address),
                    content=body,
                    headers=headers,
                    # The certificate is verified for the host name, not the pinned address.
                    extensions={"sni_hostname": target.host},
                )
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing was sent: the next checked address may answer.
                if index + 1 < len(target.addresses):
                    continue
                raise DeliveryError(None, _error_text(exc), permanent=False) from exc
            except httpx.HTTPError as exc:
                raise DeliveryError(None, _error_text(exc), permanent=False) from exc
    status = response.status_code
    if 200 <= status < 300:
        return status
    transient = status in (408, 429) or status >= 500
    raise DeliveryError(status, response.reason_phrase[:200], permanent=not transient)


def _error_text(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
