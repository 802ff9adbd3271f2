"""Storing a submission and queueing its jobs in Redis; reading, updating and deleting it.

Lifecycle: the record (TTL = retention), its entry in the form's time-ordered index and the RQ
job(s) are written together by the submission script (:mod:`frontdesk.submissions.script`), which
also counts the rate limits and claims the idempotency and duplicate keys: a submission is one
round trip, all of it or nothing. :meth:`SubmissionStore.prepare` says what to write
(:class:`StoreWrite`); the script's arguments are built from it in one place.

Jobs are RQ 3.x jobs, their hash defined once (:meth:`frontdesk.submissions.queueing.MessageJobs.hashes`).
The staff actions (release, resend) write the same job hashes with the record update, inside the
one ``WATCH``/``MULTI`` update of this module (:func:`update_submission`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import msgspec
import redis
import redis.client

from frontdesk.submissions.audit import forget_submissions
from frontdesk.submissions.budget import queued_messages
from frontdesk.submissions.definition import FormDefinition
from frontdesk.submissions.erasure import erase_submissions, find_by_email
from frontdesk.submissions.keys import sent_marker_key, submission_key
from frontdesk.submissions.queueing import MessageJobs
from frontdesk.submissions.record import (
    MessageKind,
    MessageState,
    Submission,
    decoder,
    encoder,
    message_name,
)
from frontdesk.submissions.rqjob import JobHash


class StoreUnavailable(Exception):
    """Redis could not be reached or refused the write; nothing of the submission was stored."""


class StoreWrite(msgspec.Struct, frozen=True, kw_only=True):
    """What storing one submission writes (see :meth:`SubmissionStore.prepare`): the record of
    ``submission_id`` in ``form``, encoded (``record``), kept ``ttl`` seconds and indexed at
    ``created_ms`` (Unix ms); one job per kind of ``kinds`` (``jobs``, the same order) on the
    queue ``queue_key``.
    """

    submission_id: str
    form: str
    created_ms: float
    record: bytes
    ttl: int
    kinds: list[MessageKind]
    jobs: list[JobHash]
    queue_key: str


class SubmissionStore:
    """Writes submissions and their notification jobs to one Redis (sync client, bytes responses).

    ``queue_name`` is the RQ queue; ``retry`` the RQ retry schedule (seconds); ``job_timeout`` in s.
    The asyncio submission path runs :meth:`prepare`'s write in the submission script.
    """

    def __init__(
        self,
        connection: redis.Redis,
        queue_name: str,
        retry: list[int],
        job_timeout: int,
    ) -> None:
        self.redis = connection
        self.jobs = MessageJobs(queue_name, retry, job_timeout)

    def prepare(
        self, submission: Submission, retention_days: int, kinds: list[MessageKind]
    ) -> StoreWrite:
        """The write that stores ``submission`` with one job per message kind: the record
        expires after ``retention_days``, and so does a job's failure.
        """
        ttl = retention_days * 86400
        return StoreWrite(
            submission_id=submission.id,
            form=submission.form,
            created_ms=submission.created_at.timestamp() * 1000,
            record=encoder.encode(submission),
            ttl=ttl,
            kinds=kinds,
            jobs=self.jobs.hashes(submission, kinds, ttl),
            queue_key=self.jobs.queue_key,
        )

    def queue_messages(
        self,
        submission_id: str,
        kinds: list[MessageKind],
        *,
        release: bool,
        skipped: Sequence[MessageState] = (),
        replies: Sequence[str] = (),
    ) -> Submission | None:
        """Queue messages ``kinds`` and the replies of ids ``replies`` again (resend) or for the
        first time (``release``: quarantined → received), atomically with the record update
        (:func:`update_submission`), clearing the ``sent`` marker so the worker sends it;
        ``skipped`` states are recorded for messages without one. A job's failure is kept as long
        as the record is left to live (a day when it has no TTL). Returns the updated record,
        ``None`` when it does not exist.
        Raises :class:`WrongStatus` (release of a non-quarantined one, resend of a quarantined one,
        a ``reply`` kind without its id, a reply id the record does not hold) or
        :class:`StoreUnavailable`.
        """

        def requeue(submission: Submission) -> None:
            _requeue(submission, kinds, release=release)
            _requeue_replies(submission, replies)
            submission.messages += [
                state for state in skipped if submission.message(state.kind) is None
            ]

        def enqueue(pipe: redis.client.Pipeline, submission: Submission, ttl: int) -> None:
            names = [*kinds, *(message_name("reply", reply_id) for reply_id in replies)]
            pipe.delete(*(sent_marker_key(submission_id, name) for name in names))
            self.jobs.enqueue(pipe, submission, kinds, ttl if ttl > 0 else 86400, replies=replies)

        try:
            return update_submission(self.redis, submission_id, requeue, also=enqueue)
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def release(self, submission: Submission, form: FormDefinition | None) -> Submission | None:
        """Release the quarantined ``submission`` (:meth:`queue_messages`): it gets every message
        its ``form`` defines, as it would have at intake (no auto-reply for a post not from the
        form page: :func:`~frontdesk.submissions.budget.queued_messages`), or the staff message
        alone when the form is no longer defined. Returns and raises as :meth:`queue_messages`.
        """
        kinds: list[MessageKind] = ["staff"]
        skipped: list[MessageState] = []
        if form is not None:
            kinds, states = queued_messages(form.message_kinds(), submission.flags)
            skipped = [s for s in states if s.status == "skipped"]
        return self.queue_messages(submission.id, kinds, release=True, skipped=skipped)

    def delete(self, submission_id: str) -> Submission | None:
        """Delete the submission and every copy in Redis (:func:`erase_submissions`: record, index
        entry, sent markers, claims, RQ jobs), and its id from the audit log (its entries then name
        ``"erased"``, its trail is deleted: :func:`~frontdesk.submissions.audit.forget_submissions`);
        returns the deleted record or ``None``. A job running meanwhile finds the record gone and
        sends nothing more.
        """
        submission = load_submission(self.redis, submission_id)
        if submission is None:
            return None
        erase_submissions(self.redis, self.jobs.queue_name, [submission])
        forget_submissions(self.redis, [submission.id])
        return submission

    def erase(self, email: str, forms: Collection[str] | None = None) -> list[str]:
        """Delete every stored submission holding ``email`` (:func:`find_by_email`: any form,
        defined now or not; only ``forms`` when given, ``None`` = all) with every copy in Redis,
        and their ids from the audit log (as :meth:`delete`); returns the erased ids, sorted.
        Raises ``redis.RedisError``.
        """
        found = find_by_email(self.redis, email, forms)
        erase_submissions(self.redis, self.jobs.queue_name, found)
        forget_submissions(self.redis, [s.id for s in found])
        return [s.id for s in found]


class WrongStatus(Exception):
    """The submission's status does not allow the action (``str()`` says why)."""


def _requeue(submission: Submission, kinds: list[MessageKind], *, release: bool) -> None:
    if "reply" in kinds:
        raise WrongStatus("a reply is resent by its id")
    if release:
        if submission.status != "quarantined":
            raise WrongStatus(f"submission is {submission.status}, not quarantined")
        submission.status = "received"
    elif submission.status == "quarantined":
        raise WrongStatus("submission is quarantined; release it instead")
    elif submission.status == "failed" and "staff" in kinds:
        # Only the staff message decides the submission's delivery status (record.set_message).
        submission.status = "received"
    for kind in kinds:
        state = submission.message(kind)
        if state is None:
            submission.messages.append(MessageState(kind=kind))
        else:
            state.status = "queued"
            state.last_error = None
            state.skip_reason = None


def _requeue_replies(submission: Submission, replies: Sequence[str]) -> None:
    for reply_id in replies:
        if submission.reply(reply_id) is None:
            raise WrongStatus(f"submission has no reply {reply_id}")
        state = submission.message("reply", reply_id)
        if state is None:
            submission.messages.append(MessageState(kind="reply", reply_id=reply_id))
        else:
            state.status = "queued"
            state.last_error = None


def update_submission(
    connection: redis.Redis,
    submission_id: str,
    mutate: Callable[[Submission], None],
    *,
    also: Callable[[redis.client.Pipeline, Submission, int], None] | None = None,
) -> Submission | None:
    """Apply ``mutate`` to the stored record atomically (``WATCH`` + ``MULTI``), keeping its TTL;
    ``also`` queues more commands in the same ``MULTI``, given the pipeline, the updated record
    and its TTL (seconds; ≤ 0 when it has none).

    Returns the updated record, or ``None`` when it no longer exists (expired or erased).
    Retries when another writer changed the record meanwhile. Raises what ``mutate`` raises
    (nothing written) and ``redis.RedisError``.
    """
    key = submission_key(submission_id)
    while True:
        with connection.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raw = pipe.get(key)
                if raw is None:
                    return None
                ttl = int(pipe.ttl(key))
                submission = decoder.decode(raw)
                mutate(submission)
                pipe.multi()
                pipe.set(key, encoder.encode(submission), ex=ttl if ttl > 0 else None)
                if also is not None:
                    also(pipe, submission, ttl)
                pipe.execute()
                return submission
            except redis.WatchError:
                continue


def load_submission(connection: redis.Redis, submission_id: str) -> Submission | None:
    """The stored record, or ``None`` when it does not exist."""
    raw = connection.get(submission_key(submission_id))
    return None if raw is None else decoder.decode(raw)
