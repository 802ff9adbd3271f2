"""Storing a submission and queueing its jobs atomically in Redis.

Lifecycle (DESIGN.md "Submission lifecycle"): the record (TTL = retention), its entry in the form's
time-ordered index and the RQ job(s) are written by one Lua script, which Redis runs atomically like a
``MULTI/EXEC``: no other client's command runs between its commands. On the submission path the same
script first counts the rate limits and claims the idempotency and duplicate keys
(:mod:`frontdesk.submissions.claims`), so a submission is one round trip. The script reads and checks
everything before its first write (a key of the wrong type is an error then), so it writes all of it
or nothing — unlike ``EXEC``, which does not undo the commands before one that fails.

Jobs are RQ 3.x jobs, their hash built by :mod:`frontdesk.submissions.rqjob` and named by dotted path
(``worker.jobs.send_message``): the forms service never imports worker code, and job arguments are
only the submission id and the message kind. The staff actions (release, resend) write the same job
hash inside a ``WATCH``/``MULTI`` transaction.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Collection, Sequence

import msgspec
import redis
import redis.client

from frontdesk.submissions.erasure import erase_submissions, find_by_email
from frontdesk.submissions.keys import (
    QUEUES_KEY,
    form_index_key,
    job_id,
    job_key,
    sent_marker_key,
    submission_key,
)
from frontdesk.submissions.record import MessageKind, MessageState, Submission, decoder, encoder
from frontdesk.submissions.rqjob import JobHash, JobTemplate

SEND_JOB = "worker.jobs.send_message"
RESULT_TTL = 3600

# Lua functions writing a submission, shared with the submission script (frontdesk/submissions/claims.py).
# KEYS from k: the record, the form index, rq:queues, the queue, then one job hash per job. ARGV
# from a: a msgpack array {ttl, index score, id, {{job id, {field, value, ...}}, ...}} (text only:
# Redis's Lua msgpack has no binary type), the record, then each job's binary ``data``.
# ``check_store`` only reads (errors on a key of the wrong type); ``write_store`` writes ``record``
# (the submission script may choose another version of it) and every job but the ``skip``-th
# (0: none left out, -1: all; see frontdesk/submissions/budget.py).
STORE_LUA = """
local function check_store(k)
  local expected = {'zset', 'set', 'list'}
  for i = 1, 3 do
    local found = redis.call('TYPE', KEYS[k + i])['ok']
    if found ~= 'none' and found ~= expected[i] then
      return redis.error_reply('WRONGTYPE ' .. KEYS[k + i] .. ' is a ' .. found)
    end
  end
  for i = k + 4, #KEYS do
    local found = redis.call('TYPE', KEYS[i])['ok']
    if found ~= 'none' and found ~= 'hash' then
      return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' is a ' .. found)
    end
  end
  return nil
end
local function write_store(k, a, record, skip)
  local w = cmsgpack.unpack(ARGV[a])
  redis.call('SET', KEYS[k], record, 'EX', w[1])
  redis.call('ZADD', KEYS[k + 1], w[2], w[3])
  local jobs = w[4]
  if skip == -1 then jobs = {} end
  if #jobs > 0 then redis.call('SADD', KEYS[k + 2], KEYS[k + 3]) end
  for i, job in ipairs(jobs) do
    if i ~= skip then
      redis.call('HSET', KEYS[k + 3 + i], 'data', ARGV[a + 1 + i], unpack(job[2]))
      redis.call('RPUSH', KEYS[k + 3], job[1])
    end
  end
end
"""
_SAVE = (
    STORE_LUA
    + """
local failed = check_store(1)
if failed then return failed end
write_store(1, 1, ARGV[2], 0)
return 'stored'
"""
)


class StoreUnavailable(Exception):
    """Redis could not be reached or refused the write; nothing of the submission was stored."""


class StoreWrite(msgspec.Struct, frozen=True):
    """The KEYS and ARGV of :data:`STORE_LUA` for one submission (see :meth:`SubmissionStore.prepare`)."""

    keys: list[str]
    args: list[bytes]

    @property
    def record(self) -> bytes:
        """The encoded record (the second argument; the first is the plan)."""
        return self.args[1]


def retry_schedule(base_seconds: float, max_hours: float) -> list[int]:
    """Backoff delays in seconds: ``base`` doubling up to 1 h, until their sum reaches ``max_hours``.

    ``retry_schedule(60, 24)`` → ``[60, 120, 240, 480, 960, 1920, 3600, 3600, ...]`` (about 24 h).
    """
    delays: list[int] = []
    delay, budget = max(1.0, base_seconds), max_hours * 3600
    while sum(delays) + delay <= budget or not delays:
        delays.append(math.ceil(delay))
        delay = min(delay * 2, 3600.0)
    return delays


class SubmissionStore:
    """Writes submissions and their notification jobs to one Redis (sync client, bytes responses).

    ``queue_name`` is the RQ queue; ``retry`` the RQ retry schedule (seconds); ``job_timeout`` in s.
    The asyncio submission path takes :meth:`prepare`'s keys and arguments into its own script.
    """

    def __init__(
        self,
        connection: redis.Redis,
        queue_name: str,
        retry: list[int],
        job_timeout: int,
    ) -> None:
        self.redis = connection
        self.jobs = JobTemplate(queue_name, retry, job_timeout, RESULT_TTL)
        self.save_script = connection.register_script(_SAVE)

    def prepare(
        self, submission: Submission, retention_days: int, kinds: list[MessageKind]
    ) -> StoreWrite:
        """The keys and arguments that store ``submission`` with one job per message kind: the
        record expires after ``retention_days``, and so does a job's failure.
        """
        ttl = retention_days * 86400
        jobs = self._jobs(submission, kinds, ttl)
        keys = [
            submission_key(submission.id),
            form_index_key(submission.form),
            QUEUES_KEY,
            self.jobs.queue_key,
            *(job_key(job_id(submission.id, kind)) for kind in kinds),
        ]
        score = repr(submission.created_at.timestamp() * 1000)
        plan = [
            str(ttl),
            score,
            submission.id,
            [
                [job_id(submission.id, kind), job.fields]
                for kind, job in zip(kinds, jobs, strict=True)
            ],
        ]
        args = [msgspec.msgpack.encode(plan), encoder.encode(submission), *(j.data for j in jobs)]
        return StoreWrite(keys=keys, args=args)

    def save(self, submission: Submission, retention_days: int, kinds: list[MessageKind]) -> None:
        """Store ``submission`` and enqueue one job per message kind, atomically (one script).

        Raises :class:`StoreUnavailable` when Redis fails; then nothing was written.
        """
        write = self.prepare(submission, retention_days, kinds)
        try:
            self.save_script(keys=write.keys, args=write.args)
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def _jobs(self, submission: Submission, kinds: list[MessageKind], ttl: int) -> list[JobHash]:
        now = dt.datetime.now(dt.UTC)
        meta = {"request_id": submission.request_id}
        return [self.jobs.job(SEND_JOB, (submission.id, kind), ttl, meta, now) for kind in kinds]

    def _enqueue(
        self,
        pipe: redis.client.Pipeline,
        submission: Submission,
        kinds: list[MessageKind],
        ttl: int,
    ) -> None:
        """Queue the jobs' commands on ``pipe`` (in ``MULTI`` mode), as RQ's ``enqueue_many``."""
        pipe.sadd(QUEUES_KEY, self.jobs.queue_key)
        for kind, job in zip(kinds, self._jobs(submission, kinds, ttl), strict=True):
            pipe.hset(job_key(job_id(submission.id, kind)), mapping=job.mapping())  # type: ignore[arg-type]
            pipe.rpush(self.jobs.queue_key, job_id(submission.id, kind))

    def queue_messages(
        self,
        submission_id: str,
        kinds: list[MessageKind],
        *,
        release: bool,
        skipped: Sequence[MessageState] = (),
    ) -> Submission | None:
        """Queue messages ``kinds`` again (resend) or for the first time (``release``: quarantined →
        received), atomically with the record update (``WATCH`` + ``MULTI``), clearing the ``sent``
        marker so the worker sends it; ``skipped`` states are recorded for messages without one.
        Returns the updated record, ``None`` when it does not exist.
        Raises :class:`WrongStatus` (release of a non-quarantined one, resend of a quarantined one)
        or :class:`StoreUnavailable`.
        """
        key = submission_key(submission_id)
        try:
            while True:
                with self.redis.pipeline(transaction=True) as pipe:
                    try:
                        pipe.watch(key)  # type: ignore[no-untyped-call]
                        raw = pipe.get(key)
                        if raw is None:
                            return None
                        ttl = int(pipe.ttl(key))
                        submission = decoder.decode(raw)
                        _requeue(submission, kinds, release=release)
                        submission.messages += [
                            state for state in skipped if submission.message(state.kind) is None
                        ]
                        pipe.multi()
                        pipe.set(key, encoder.encode(submission), ex=ttl if ttl > 0 else None)
                        pipe.delete(*(sent_marker_key(submission_id, kind) for kind in kinds))
                        self._enqueue(pipe, submission, kinds, ttl if ttl > 0 else 86400)
                        pipe.execute()
                        return submission
                    except redis.WatchError:
                        continue
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def delete(self, submission_id: str) -> Submission | None:
        """Delete the submission and every copy in Redis (:func:`erase_submissions`: record, index
        entry, sent markers, claims, RQ jobs); returns the deleted record or ``None``. A job
        running meanwhile finds the record gone and sends nothing more.
        """
        submission = load_submission(self.redis, submission_id)
        if submission is None:
            return None
        erase_submissions(self.redis, self.jobs.queue_name, [submission])
        return submission

    def erase(self, email: str, forms: Collection[str] | None = None) -> list[str]:
        """Delete every stored submission holding ``email`` (:func:`find_by_email`: any form,
        defined now or not; only ``forms`` when given, ``None`` = all) with every copy in Redis;
        returns the erased ids, sorted. Raises ``redis.RedisError``.
        """
        found = find_by_email(self.redis, email, forms)
        erase_submissions(self.redis, self.jobs.queue_name, found)
        return [s.id for s in found]


class WrongStatus(Exception):
    """The submission's status does not allow the action (``str()`` says why)."""


def _requeue(submission: Submission, kinds: list[MessageKind], *, release: bool) -> None:
    if release:
        if submission.status != "quarantined":
            raise WrongStatus(f"submission is {submission.status}, not quarantined")
        submission.status = "received"
    elif submission.status == "quarantined":
        raise WrongStatus("submission is quarantined; release it instead")
    elif submission.status == "failed":
        submission.status = "received"
    for kind in kinds:
        state = submission.message(kind)
        if state is None:
            submission.messages.append(MessageState(kind=kind))
        else:
            state.status = "queued"
            state.last_error = None
            state.skip_reason = None


def update_submission(
    connection: redis.Redis, submission_id: str, mutate: Callable[[Submission], None]
) -> Submission | None:
    """Apply ``mutate`` to the stored record atomically (``WATCH`` + ``MULTI``), keeping its TTL.

    Returns the updated record, or ``None`` when it no longer exists (expired or erased).
    Retries when another writer changed the record meanwhile.
    """
    key = submission_key(submission_id)
    while True:
        with connection.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raw = pipe.get(key)
                if raw is None:
                    return None
                ttl = pipe.ttl(key)
                submission = decoder.decode(raw)
                mutate(submission)
                pipe.multi()
                pipe.set(key, encoder.encode(submission), ex=ttl if ttl > 0 else None)
                pipe.execute()
                return submission
            except redis.WatchError:
                continue


def load_submission(connection: redis.Redis, submission_id: str) -> Submission | None:
    """The stored record, or ``None`` when it does not exist."""
    raw = connection.get(submission_key(submission_id))
    return None if raw is None else decoder.decode(raw)
