"""Every Redis key Frontdesk names, in one place: no other module spells a ``frontdesk:`` key
(tests/unit/test_key_literals.py fails when one does).

Frontdesk's own keys (all under :data:`KEY_PREFIX`):

=========================================  ====================================================
``frontdesk:submission:<id>``              a record (msgspec JSON, TTL = the form's retention)
``frontdesk:form:<form>:submissions``      a form's records, a sorted set scored by creation ms
``frontdesk:sent:<id>:<kind>``             set (``SET NX``) once the relay accepted a message
``frontdesk:idem:<form>:<hash>``           an ``Idempotency-Key`` claim, ``<id>|<body hash>``
``frontdesk:dup:<form>:<hash>``            a duplicate claim (address, phone, message), ``<id>``
``frontdesk:rl:<name>:<window s>:<n>``     the count of window ``n`` of a rate limit
``frontdesk:held:<form>:<Unix hour>``      posts held past the form's hourly cap (the digest)
``frontdesk:digest:<form>:<Unix hour>``    the digest of that hour is queued
``frontdesk:digest-sent:<form>:<hour>``    the digest of that hour was sent
``frontdesk:captcha:<form>:<hash>``         a spent ALTCHA solution (``SET NX``, TTL = until its
                                           challenge expires), the hash of its Idempotency-Key
``frontdesk:metrics:messages``             delivery outcomes, a hash ``<kind>:<outcome>`` → n
``frontdesk:secret_key``                   the generated master key (hex)
``frontdesk:keys:derived-since``           when keys were first derived from it (Unix ms)
``frontdesk:replication-ack``              a counter written before ``WAIT`` (never read)
``frontdesk:inbox:link:<link id>``         a sign-in link asked for (JSON; never its secret)
``frontdesk:inbox:session:<hash>``         an inbox session, by the SHA-256 of its cookie (JSON)
``frontdesk:inbox:sessions:<address>``     the session hashes of one staff address (a set)
``frontdesk:inbox:pending:<hash>``         a sign-in waiting for its two-step code, by the
                                           SHA-256 of its cookie (JSON, 5 minutes)
``frontdesk:inbox:totp:<address>``         one staff address's two-step sign-in: a hash of its
                                           encrypted secret, ``on`` and the last used time step
``frontdesk:audit``                        the audit log, a sorted set of JSON entries by time
``frontdesk:audit:submission:<id>``        one inquiry's audit entries (a sorted set by time)
``frontdesk:build-hooks:announced``        the last build announced to the build hooks (JSON:
                                           its digest and every route's ETag)
``frontdesk:build-hooks:change:<id>``      one announced change: its payload and hooks (JSON,
                                           TTL = the retry schedule plus a day)
``frontdesk:build-hooks:log:<hook>``       the last deliveries to one build hook (a list of JSON
                                           entries, newest first, trimmed)
=========================================  ====================================================

RQ's keys, as RQ names them (its class attributes, so an RQ upgrade that renames them is
followed): ``rq:queues`` (:data:`QUEUES_KEY`), ``rq:queue:<name>`` (:func:`queue_key`) and
``rq:job:<job id>`` (:func:`job_key`), a message's job id being ``<submission id>-<kind>``
(:func:`job_id`; a reply from the inbox's ``<submission id>-reply-<reply id>``, and its ``sent``
marker ``frontdesk:sent:<id>:reply-<reply id>``), a sign-in mail's ``sign-in-<link id>``
(:func:`sign_in_job_id`), a build hook's ``build-hook-<change id>-<hook>``
(:func:`build_hook_job_id`).
"""

from __future__ import annotations

from rq import Queue
from rq.job import Job

KEY_PREFIX = "frontdesk:"
"""What every key of Frontdesk's own starts with."""

MASTER_KEY = "frontdesk:secret_key"
"""The generated master key (:mod:`frontdesk.submissions.secret`). The name the time trap used
before, so an upgraded deployment keeps its master; ``frontdesk:secret-key`` (the webhooks' own
generated key before) is no longer read."""

DERIVED_SINCE = "frontdesk:keys:derived-since"
"""When this deployment first derived keys (Unix ms, ``SET NX``): tokens signed with the master
key itself before then are the previous version's (services/forms/timetrap.py)."""

MESSAGE_COUNTS = "frontdesk:metrics:messages"
"""Delivery outcomes counted by the worker, a hash ``<kind>:<outcome>`` → count, read at scrape
time (:class:`frontdesk.metrics.QueueCollector`)."""

REPLICATION_ACK = "frontdesk:replication-ack"
"""A counter incremented on the connection that sends ``WAIT`` (:mod:`frontdesk.submissions.replicas`),
so the wait covers a write placed after the record; never read."""

IDEMPOTENCY_PREFIX = "frontdesk:idem:"
"""Idempotency claims: ``<prefix><form>:<hash of the key>`` = ``<id>|<body hash>``."""

DUPLICATE_PREFIX = "frontdesk:dup:"
"""Duplicate claims: ``<prefix><form>:<hash of address, phone, message>`` = ``<id>``."""

CLAIM_PREFIXES = (IDEMPOTENCY_PREFIX, DUPLICATE_PREFIX)
"""Every claim key starts with one of these (an erasure scans them)."""

NO_HELD_KEY = "frontdesk:held:-"
"""The held counter's key slot of the submission script when no tier can hold (never written)."""

QUEUES_KEY: str = Queue.redis_queues_keys
"""The set of every queue's key (``rq:queues``); a worker finds queues there."""


def submission_key(submission_id: str) -> str:
    """The record of a submission; ``submission_key("*")`` is the ``SCAN`` pattern of them all."""
    return f"{KEY_PREFIX}submission:{submission_id}"


def form_index_key(form: str) -> str:
    """The sorted set of a form's submission ids, scored by creation time in milliseconds."""
    return f"{KEY_PREFIX}form:{form}:submissions"


def sent_marker_key(submission_id: str, kind: str) -> str:
    """Set (``SET NX``) once message ``kind`` of a submission has been accepted by the relay."""
    return f"{KEY_PREFIX}sent:{submission_id}:{kind}"


def idempotency_key(form_id: str, key_hash: str) -> str:
    """The claim of an ``Idempotency-Key`` (``key_hash``: a hash of the header's value)."""
    return f"{IDEMPOTENCY_PREFIX}{form_id}:{key_hash}"


def duplicate_key(form_id: str, content_hash: str) -> str:
    """The claim of a content fingerprint (``content_hash``: a hash of address, phone, message)."""
    return f"{DUPLICATE_PREFIX}{form_id}:{content_hash}"


def rate_window_key(name: str, window: int, number: int) -> str:
    """The count of window ``number`` (Unix seconds // ``window``) of the limit ``name``."""
    return f"{KEY_PREFIX}rl:{name}:{window}:{number}"


def _hourly(kind: str, form_id: str, hour: int) -> str:
    """The layout of a per-form, per-hour key (``hour`` in Unix hours): the held count's and the
    digest's keys share it.
    """
    return f"{KEY_PREFIX}{kind}:{form_id}:{hour}"


def held_count_key(form_id: str, hour: int) -> str:
    """The count of ``form_id``'s posts held in hour ``hour`` (Unix hours), read by the digest."""
    return _hourly("held", form_id, hour)


def digest_queued_key(form_id: str, hour: int) -> str:
    """Set (``SET NX``) by the worker that queues the digest of ``form_id``'s ``hour``."""
    return _hourly("digest", form_id, hour)


def digest_sent_key(form_id: str, hour: int) -> str:
    """Set once the digest of ``form_id``'s ``hour`` was sent."""
    return _hourly("digest-sent", form_id, hour)


def captcha_spent_key(form_id: str, challenge_hash: str) -> str:
    """The mark of a spent ALTCHA solution of ``form_id`` (``challenge_hash``: a hash of the
    challenge's signature), kept until the challenge expires.
    """
    return f"{KEY_PREFIX}captcha:{form_id}:{challenge_hash}"


def job_id(submission_id: str, kind: str) -> str:
    """The RQ job id of a message: ``<submission id>-<kind>`` (RQ allows ``[A-Za-z0-9_-]``)."""
    return f"{submission_id}-{kind}"


def queue_key(queue_name: str) -> str:
    """The Redis list of a queue's waiting job ids: ``rq:queue:<name>``."""
    return f"{Queue.redis_queue_namespace_prefix}{queue_name}"


def job_key(rq_job_id: str) -> str:
    """The Redis hash of a job: ``rq:job:<id>``."""
    return f"{Job.redis_job_namespace_prefix}{rq_job_id}"


def _inbox(kind: str, name: str) -> str:
    """The layout of the staff inbox's keys: ``frontdesk:inbox:<kind>:<name>``."""
    return f"{KEY_PREFIX}inbox:{kind}:{name}"


def sign_in_link_key(link_id: str) -> str:
    """A sign-in link asked for: its address, browser hash and expiry, never its secret."""
    return _inbox("link", link_id)


def session_key(session_hash: str) -> str:
    """An inbox session, by the SHA-256 (hex) of its cookie's value."""
    return _inbox("session", session_hash)


def staff_sessions_key(address: str) -> str:
    """The set of session hashes of staff ``address`` (sign-out everywhere ends them all)."""
    return _inbox("sessions", address)


def pending_sign_in_key(pending_hash: str) -> str:
    """A sign-in waiting for its two-step code, by the SHA-256 (hex) of its cookie's value."""
    return _inbox("pending", pending_hash)


def totp_key(address: str) -> str:
    """Staff ``address``'s two-step sign-in, a hash: ``secret`` (encrypted), ``on`` (``1`` once
    confirmed) and ``step`` (the last time step a code was accepted for: no replay).
    """
    return _inbox("totp", address)


AUDIT_LOG = f"{KEY_PREFIX}audit"
"""The audit log: a sorted set, score Unix seconds, member an entry's JSON."""


def submission_audit_key(submission_id: str) -> str:
    """One inquiry's audit entries, a sorted set like :data:`AUDIT_LOG`."""
    return f"{AUDIT_LOG}:submission:{submission_id}"


def sign_in_job_id(link_id: str) -> str:
    """The RQ job id of a sign-in mail: ``sign-in-<link id>``."""
    return f"sign-in-{link_id}"


BUILD_HOOKS_ANNOUNCED = f"{KEY_PREFIX}build-hooks:announced"
"""The last build announced to the build hooks: JSON ``{"digest", "routes": {path: etag}}``,
written in the same transaction as the change's jobs (:mod:`frontdesk.submissions.buildhooks`), so
N content replicas that built the same ETags queue one change."""


def build_hook_change_key(change_id: str) -> str:
    """One announced change (payload and hook URLs), read by its delivery jobs."""
    return f"{KEY_PREFIX}build-hooks:change:{change_id}"


def build_hook_log_key(hook: str) -> str:
    """The last deliveries to the build hook named ``hook`` (a list, newest first)."""
    return f"{KEY_PREFIX}build-hooks:log:{hook}"


def build_hook_job_id(change_id: str, hook: str) -> str:
    """The RQ job id of one change's delivery to one hook: ``build-hook-<change id>-<hook>``."""
    return f"build-hook-{change_id}-{hook}"
