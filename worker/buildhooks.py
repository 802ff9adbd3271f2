"""Build-hook deliveries: ``deliver(change_id, hook)`` POSTs one announced change to one hook.

The body is the change's payload (:class:`frontdesk.submissions.buildhooks.Payload`), JSON.
Headers: ``Content-Type: application/json``, ``User-Agent: Frontdesk-Build-Hook``,
``Frontdesk-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is HMAC-SHA256 over
``<t>.<raw body>`` keyed with the 64-character hex text of the ``build-hooks`` key derived from
the master key (``frontdesk keys build-hooks`` prints it), ``Frontdesk-Delivery: <change>.<hook>``
(the same on every retry, for receivers to drop repeats) and ``Frontdesk-Event: build``.

Where it goes, the outcomes and the retries are the webhooks' (:mod:`worker.webhooks`): the
destination is checked on every attempt; 2xx delivered; 408, 429, 5xx, no answer and a host that
does not resolve are retried on the message schedule; anything else, and a refused destination,
fail at once. Every attempt is written to the hook's delivery log (time, change, attempt, status,
outcome, a short error; never the URL, whose path is the secret of a Netlify or Vercel hook).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from urllib.parse import urlsplit

import redis
from rq import get_current_job

from frontdesk.redis import connect
from frontdesk.settings import Settings
from frontdesk.submissions.buildhooks import Delivery, load_change, record_delivery
from frontdesk.submissions.secret import key_for
from worker.context import current_context
from worker.outage import riding_out
from worker.smtp import DeliveryError

log = logging.getLogger("frontdesk.worker")


def secret_key(connection: redis.Redis, settings: Settings) -> bytes:
    """The build hooks' signing key: the hex text of the ``build-hooks`` derived key, as text (as
    receivers paste it). Raises ``redis.RedisError`` when the master key cannot be read.
    """
    return key_for(connection, settings.secret_key, "build-hooks").hex().encode()


def _without_url(text: str, url: str) -> str:
    """``text`` without ``url``'s path and query (the secret of a hosted build hook)."""
    parts = urlsplit(url)
    for hidden in (url, parts.path, parts.query):
        if hidden and hidden != "/":
            text = text.replace(hidden, "…")
    return text[:200]


def _attempt() -> int:
    job = get_current_job()
    if job is None:
        return 1
    total = len(job.retry_intervals or [])
    return total - int(job.retries_left or 0) + 1


def deliver(change_id: str, hook: str) -> str:
    """POST change ``change_id`` to the build hook ``hook``.

    Returns ``delivered``, ``failed`` or ``gone`` (the change expired or names no such hook).
    Raises :class:`~worker.smtp.DeliveryError` on a transient failure, so RQ retries the job.
    """
    settings = current_context().settings
    connection = connect(settings, retry=riding_out())
    change = load_change(connection, change_id)
    target = change.hook(hook) if change is not None else None
    if change is None or target is None:
        log.warning("build change %s for hook %s is gone; nothing sent", change_id, hook)
        return "gone"
    # httpx only now: a worker whose sites have no hooks never loads it (as for webhooks).
    from worker.outbound import post_checked
    from worker.webhooks import signature

    attempt = _attempt()
    body = change.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Frontdesk-Build-Hook",
        "Frontdesk-Signature": signature(secret_key(connection, settings), int(time.time()), body),
        "Frontdesk-Delivery": f"{change_id}.{hook}",
        "Frontdesk-Event": "build",
    }
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    try:
        status = post_checked(target.url, body, headers, settings)
    except DeliveryError as exc:
        job = get_current_job()
        error = _without_url(exc.text, target.url)
        final = exc.permanent or job is None or not job.retries_left
        refused = exc.code is None and exc.permanent
        outcome = "refused" if refused else "failed" if final else "retrying"
        record_delivery(
            connection,
            hook,
            Delivery(
                at=now, change=change_id, attempt=attempt, status=exc.code, outcome=outcome,
                error=error,
            ),
        )  # fmt: skip
        if final:
            if job is not None:
                job.retries_left = 0
            log.error(
                "build change %s: hook %s %s: %s %s",
                change_id,
                hook,
                outcome,
                exc.code or "-",
                error,
            )
            return "failed"
        log.warning(
            "build change %s: hook %s will be retried: %s", change_id, hook, exc.code or "-"
        )
        raise DeliveryError(exc.code, error, permanent=False) from None
    record_delivery(
        connection,
        hook,
        Delivery(at=now, change=change_id, attempt=attempt, status=status, outcome="delivered"),
    )
    log.info("build change %s: hook %s delivered (%d)", change_id, hook, status)
    return "delivered"
