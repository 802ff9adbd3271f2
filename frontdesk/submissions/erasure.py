"""Erasing submissions from Redis: the record and every copy the forms service and RQ keep of it.

What one submission ``<id>`` leaves in Redis (docs/forms.md "Storage", docs/security.md "Erasure,
and every copy of a submission"), and what :func:`erase_submissions` deletes:

- the record ``frontdesk:submission:<id>`` and its entry in ``frontdesk:form:<form>:submissions``;
- the ``sent`` markers ``frontdesk:sent:<id>:<kind>``;
- the claims naming it: ``frontdesk:idem:<form>:<hash>`` = ``<id>|<body hash>`` and
  ``frontdesk:dup:<form>:<hash>`` = ``<id>`` (hashes of the person's address, phone, message and
  body), so the person's identical post after an erasure is stored anew;
- its RQ jobs ``<id>-<kind>``, a reply's ``<id>-reply-<reply id>`` (and their ``sent`` markers),
  for every reply the record holds: the job hash, its place in the queue and in every registry
  (started, finished, failed, scheduled, deferred, canceled, ready), its results stream (a failure's
  traceback, which can quote the relay's reply) and its executions, through RQ's own
  ``Job.delete``, then by id wherever the job's status did not say.

Records are found by scanning the records themselves (``SCAN``), not the forms defined now, so a
form removed from the site directory keeps no record from an erasure.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import get_args

import redis
from rq import Queue
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job
from rq.registry import (
    BaseRegistry,
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ReadyJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.results import Result
from rq.serializers import JSONSerializer

from frontdesk.submissions.keys import (
    CLAIM_PREFIXES,
    form_index_key,
    job_id,
    job_key,
    sent_marker_key,
    submission_key,
)
from frontdesk.submissions.record import MessageKind, Submission, decoder, message_name

SCAN_COUNT = 1000
"""Keys a ``SCAN`` call walks: a whole keyspace of 100,000 keys is 100 round trips."""

_REGISTRIES: tuple[type[BaseRegistry], ...] = (
    StartedJobRegistry,
    FinishedJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
    DeferredJobRegistry,
    CanceledJobRegistry,
    ReadyJobRegistry,
)

# KEYS: claim keys; ARGV: the submission id each one is expected to name. A claim is deleted only
# while its value still names that id (``<id>`` or ``<id>|<body hash>``): a claim taken meanwhile
# by another submission is left alone. Returns how many were deleted.
FREE_CLAIMS_LUA = """
local freed = 0
for i, key in ipairs(KEYS) do
  local held = redis.call('GET', KEYS[i])
  local id = ARGV[i]
  if held and (held == id or string.sub(held, 1, #id + 1) == id .. '|') then
    freed = freed + redis.call('DEL', key)
  end
end
return freed
"""


def claim_holder(value: bytes | str) -> str:
    """The submission id a claim's value names (``<id>`` or ``<id>|<body hash>``)."""
    text = value.decode() if isinstance(value, bytes) else value
    return text.partition("|")[0]


def wanted_address(email: str) -> str:
    """``email`` normalised as a submission's email field is (then case-folded), for comparing."""
    from frontdesk.submissions.emails import check_email

    verdict = check_email(email)
    return (verdict.normalized or email.strip()).casefold()


def _scan(connection: redis.Redis, pattern: str) -> Iterator[list[bytes]]:
    """The keys matching ``pattern``, a ``SCAN`` page at a time (each key at least once)."""
    cursor = 0
    while True:
        cursor, keys = connection.scan(cursor, match=pattern, count=SCAN_COUNT)
        if keys:
            yield [k if isinstance(k, bytes) else k.encode() for k in keys]
        if cursor == 0:
            return


def find_by_email(
    connection: redis.Redis, email: str, forms: Collection[str] | None = None
) -> list[Submission]:
    """Every stored submission, of any form ever defined, with a field equal to ``email`` (the
    same normalisation as a submission, case-insensitive); only those of ``forms`` when given.

    Any field, not only the form's email fields: a removed form's definition is gone, and a
    field holding exactly the address is the person's data either way.
    """
    wanted = wanted_address(email)
    found: dict[str, Submission] = {}
    for keys in _scan(connection, submission_key("*")):
        for raw in connection.mget(keys):
            if raw is None:  # expired between the SCAN and the MGET
                continue
            record = decoder.decode(raw)
            if forms is not None and record.form not in forms:
                continue
            if any(value.casefold() == wanted for value in record.fields.values()):
                found[record.id] = record
    return sorted(found.values(), key=lambda s: s.id)


def erase_submissions(
    connection: redis.Redis, queue_name: str, submissions: Iterable[Submission]
) -> None:
    """Delete ``submissions`` and every copy listed in this module's docstring.

    Raises ``redis.RedisError``; erasing again after one is safe (each step deletes what is left).
    """
    erased = {s.id: s for s in submissions}
    if not erased:
        return
    names = {s.id: message_names(s) for s in erased.values()}
    with connection.pipeline(transaction=True) as pipe:
        for submission in erased.values():
            pipe.delete(submission_key(submission.id))
            pipe.zrem(form_index_key(submission.form), submission.id)
            pipe.delete(*(sent_marker_key(submission.id, name) for name in names[submission.id]))
        pipe.execute()
    free_claims(connection, set(erased))
    for submission_id in erased:
        for name in names[submission_id]:
            delete_job(connection, queue_name, job_id(submission_id, name))


def message_names(submission: Submission) -> list[str]:
    """The name of every message ``submission`` has or may have had (:func:`message_name`): each
    kind but ``reply``, then each reply the record holds or has a delivery state of.
    """
    kinds: tuple[MessageKind, ...] = get_args(MessageKind)
    reply_ids = [r.id for r in submission.replies]
    reply_ids += [
        m.reply_id for m in submission.messages if m.reply_id and m.reply_id not in reply_ids
    ]
    return [k for k in kinds if k != "reply"] + [message_name("reply", r) for r in reply_ids]


def free_claims(connection: redis.Redis, submission_ids: Collection[str]) -> int:
    """Delete the duplicate and idempotency claims naming ``submission_ids``; returns how many.

    Claim keys hold only hashes, so they are found by one ``SCAN`` of the claim keys (at most a
    day's worth) and their values.
    """
    free = connection.register_script(FREE_CLAIMS_LUA)
    freed = 0
    for prefix in CLAIM_PREFIXES:
        for keys in _scan(connection, f"{prefix}*"):
            held = [
                (key, claim_holder(value))
                for key, value in zip(keys, connection.mget(keys), strict=True)
                if value is not None and claim_holder(value) in submission_ids
            ]
            if held:
                freed += int(free(keys=[k for k, _ in held], args=[i for _, i in held]))
    return freed


def delete_job(connection: redis.Redis, queue_name: str, rq_job_id: str) -> None:
    """Delete RQ job ``rq_job_id`` and every trace of it: RQ's ``Job.delete`` (hash, queue entry,
    the registry its status names, executions, results), then the id in every registry and the
    queue (a job whose hash expired, or whose status and registry disagree after a crash).
    """
    queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
    try:
        job = Job.fetch(rq_job_id, connection=connection, serializer=JSONSerializer)
    except (NoSuchJobError, DeserializationError):
        job = None
    if job is not None:
        job.delete(remove_from_queue=True)
    with connection.pipeline(transaction=True) as pipe:
        for registry_class in _REGISTRIES:
            registry = registry_class(queue=queue)
            pipe.zrem(registry.key, rq_job_id)
            # The started registry holds "<job id>:<execution id>" members.
            for member, _ in connection.zscan_iter(registry.key, match=f"{rq_job_id}:*"):
                pipe.zrem(registry.key, member)
        pipe.lrem(queue.key, 0, rq_job_id)
        pipe.lrem(queue.intermediate_queue_key, 0, rq_job_id)
        pipe.delete(
            job_key(rq_job_id),
            f"{job_key(rq_job_id)}:dependents",
            f"{job_key(rq_job_id)}:dependencies",
            Result.get_key(rq_job_id),  # type: ignore[no-untyped-call]
        )
        pipe.execute()
