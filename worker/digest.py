"""The hourly digest of held submissions: staff learn that a flood filled a form's hourly cap and
how many posts past it are waiting in quarantine (reason ``form_cap``) for them to look at.

The submission script counts each held post in ``frontdesk:held:<form>:<Unix hour>``
(:func:`frontdesk.submissions.keys.held_count_key`, kept two days). Each worker maintenance run
calls :func:`queue_digests`: for every defined form and every ended hour of the last day with a count,
the first worker to set ``frontdesk:digest:<form>:<hour>`` (``SET NX``) enqueues one
``send_digest(form, hour)`` job — one digest per form and hour, whatever the number of workers.
The job mails the form's recipients the count, the hour and how to find and release the held
posts; it carries no visitor data (no name, address or message), so it needs no erasure. Delivery
is at least once, like every message: transient failures are retried on the email schedule, and a
``sent`` marker keeps a re-run from sending it again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from frontdesk.redis import connect
from frontdesk.settings import Settings
from frontdesk.site import form_ids
from frontdesk.submissions.budget import HELD_COUNT_TTL, HELD_REASON
from frontdesk.submissions.definition import FormDefinition
from frontdesk.submissions.keys import digest_queued_key, digest_sent_key, held_count_key
from frontdesk.submissions.queueing import retry_schedule
from worker.context import current_context
from worker.smtp import DeliveryError, deliver

log = logging.getLogger("frontdesk.worker")

DIGEST_JOB = "worker.digest.send_digest"
# Ended hours looked at on each run: a worker that was down for up to a day still reports them.
LOOKBACK_HOURS = 24


def queue_digests(connection: redis.Redis, settings: Settings, now: float | None = None) -> int:
    """Enqueue the digest of every ended hour (of the last :data:`LOOKBACK_HOURS`, at ``now``,
    Unix seconds) in which a defined form held posts and whose digest is not queued yet; returns
    how many were enqueued. One ``MGET`` per form.
    """
    current = int((time.time() if now is None else now) // 3600)
    hours = list(range(current - LOOKBACK_HOURS, current))
    schedule = retry_schedule(settings.retry_base_seconds, settings.retry_max_hours)
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    queued = 0
    # The form files' names are enough here: a broken form's held posts still get their digest.
    for form_id in sorted(form_ids(settings.site_dir) or ()):
        counts = connection.mget([held_count_key(form_id, hour) for hour in hours])
        for hour, count in zip(hours, counts, strict=True):
            if not count or int(count) <= 0:
                continue
            if not connection.set(
                digest_queued_key(form_id, hour), "1", nx=True, ex=HELD_COUNT_TTL
            ):
                continue
            queue.enqueue(
                DIGEST_JOB,
                args=(form_id, hour),
                job_id=f"digest-{form_id}-{hour}",
                job_timeout=int(settings.job_timeout),
                result_ttl=3600,
                failure_ttl=HELD_COUNT_TTL,
                retry=Retry(max=len(schedule), interval=schedule),
            )
            queued += 1
    return queued


def digest_message(form: FormDefinition, hour: int, count: int) -> EmailMessage:
    """The digest email of ``count`` posts to ``form`` held in ``hour`` (Unix hours)."""
    start = dt.datetime.fromtimestamp(hour * 3600, dt.UTC)
    end = start + dt.timedelta(hours=1)
    window = f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"
    rules = form.spam.rate_limits
    message = EmailMessage()
    message["From"] = form.sender
    message["To"] = ", ".join(form.recipients)
    message["Subject"] = f"{count} submissions to {form.title} held, {window}"
    message["Date"] = format_datetime(end)
    domain = parseaddr(form.sender)[1].rpartition("@")[2] or "frontdesk.invalid"
    message["Message-ID"] = f"<digest.{form.id}.{hour}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834 §5: not a reply to anyone
    message.set_content(
        f"Between {window}, {count} submissions to the form {form.title!r} ({form.id}) arrived "
        f"after its hourly cap ({rules.per_form_hour} submissions) was reached.\n\n"
        f"They were answered like accepted submissions and kept quarantined with the reason "
        f"{HELD_REASON}; nobody was notified of them and no auto-reply was sent. Posts from the "
        f"form page itself (a valid time-trap token and an allowed Origin) had a budget of their "
        f"own ({rules.verified_hour} an hour) and were delivered as usual.\n\n"
        f"A flood of posts is the usual cause. Some of the held submissions may come from real "
        f"visitors: list them with GET /v1/forms/{form.id}/submissions?status=quarantined and "
        f"release the real ones (POST /v1/submissions/<id>/release); the rest expire with the "
        f"form's retention.\n\n"
        f"This is one digest for that hour; there is one for each hour in which posts were held.\n"
    )
    return message


def send_digest(form_id: str, hour: int) -> str:
    """Send the digest of ``form_id``'s posts held in ``hour``: ``sent``, ``already_sent`` or
    ``gone`` (the form or the count no longer exists). Raises
    :class:`~worker.smtp.DeliveryError` on a transient failure so RQ retries the job.
    """
    context = current_context()
    settings = context.settings
    connection = connect(settings)
    if connection.exists(digest_sent_key(form_id, hour)):
        return "already_sent"
    form = context.form(form_id)
    count = connection.get(held_count_key(form_id, hour))
    if form is None or count is None:
        log.warning("digest of form %s for hour %d: nothing to send", form_id, hour)
        return "gone"
    message = digest_message(form, hour, int(count))
    try:
        asyncio.run(deliver(message, list(form.recipients), settings))
    except DeliveryError as exc:
        if exc.permanent:
            log.error("digest of form %s for hour %d failed: %s", form_id, hour, exc.code or "-")
            return "failed"
        raise
    connection.set(digest_sent_key(form_id, hour), "1", ex=HELD_COUNT_TTL)
    log.info("digest of form %s for hour %d sent: %d held", form_id, hour, int(count))
    return "sent"
