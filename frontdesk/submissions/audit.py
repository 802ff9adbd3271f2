"""The audit log: who did what to which inquiry, when — never visitor data.

An entry (:class:`AuditEntry`) names the staff member (an inbox address or a staff token's name),
the action, the submission id when there is one, the time and an optional staff-chosen detail (a
new status, a count, a form id). It is written to :data:`~frontdesk.submissions.keys.AUDIT_LOG`
and, for an entry naming a submission, to that inquiry's own
:func:`~frontdesk.submissions.keys.submission_audit_key`, so its detail page shows its trail.

Retention: every write drops the entries older than the retention (by the entries' own times,
``at``) from the log *and* from the trails they were in; a trail key also expires
``retention_days`` after its last write, so a trail no write ever trims again still goes.
:func:`trim_audit` does the same without a write (the audit page calls it before reading).

Erasure: :func:`forget_submissions` rewrites every entry naming an erased submission with
``submission_id="erased"`` (same time, actor, action and detail) and deletes the trails of those
submissions, so nothing in the log still points at the erased person's inquiries.

Every function does blocking Redis I/O (run it in a worker thread from async code) and raises
``redis.RedisError`` when Redis fails.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterator
from typing import Literal, get_args

import msgspec
import redis

from frontdesk.cursors import CursorError, decode_position, encode_position
from frontdesk.submissions.keys import AUDIT_LOG, submission_audit_key

AuditAction = Literal[
    "sign_in",
    "sign_out_everywhere",
    "view",
    "workflow",
    "note",
    "reply",
    "release",
    "resend",
    "export",
    "erase",
    "delete",
    "totp",
]
AUDIT_ACTIONS: tuple[AuditAction, ...] = get_args(AuditAction)
"""Every action an entry can name, in the order the audit page's filter lists them."""

ERASED = "erased"
"""The ``submission_id`` of an entry whose inquiry was erased or deleted."""

DAY = 86_400
# Members read per round trip when walking the log (paging, trimming, erasure).
CHUNK = 500


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One audited action: ``at`` (Unix seconds), ``actor`` (staff address or token name),
    ``action``, ``submission_id`` (``None`` for actions on no one inquiry; ``"erased"`` once the
    inquiry was erased) and ``detail`` (a staff-chosen value such as a new status or a count;
    never visitor data). ``nonce`` keeps two equal entries apart in the sorted set.
    """

    at: float
    actor: str
    action: AuditAction
    submission_id: str | None = None
    detail: str | None = None
    nonce: str = msgspec.field(default_factory=lambda: secrets.token_hex(4))


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the log, newest first: ``entries`` and the cursor of the next page (``None`` on
    the last one).
    """

    entries: list[AuditEntry]
    next_cursor: str | None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AuditEntry)


def record_audit(connection: redis.Redis, entry: AuditEntry, retention_days: int) -> None:
    """Append ``entry`` to the log (and to its inquiry's trail), then drop the entries older than
    ``retention_days`` before ``entry.at`` (:func:`trim_audit`); raises ``redis.RedisError``.
    """
    member = _encoder.encode(entry)
    with connection.pipeline(transaction=True) as pipe:
        pipe.zadd(AUDIT_LOG, {member: entry.at})
        if entry.submission_id is not None:
            trail = submission_audit_key(entry.submission_id)
            pipe.zadd(trail, {member: entry.at})
            pipe.expire(trail, retention_days * DAY)
        pipe.execute()
    trim_audit(connection, entry.at, retention_days)


def trim_audit(connection: redis.Redis, now: float, retention_days: int) -> int:
    """Drop every entry older than ``retention_days`` before ``now`` (Unix seconds) from the log
    and from the trail it is in; returns how many left the log.
    """
    bound = f"({now - retention_days * DAY}"
    dropped = 0
    while True:
        old: list[bytes] = connection.zrangebyscore(  # type: ignore[assignment]
            AUDIT_LOG, "-inf", bound, start=0, num=CHUNK
        )
        if not old:
            return dropped
        with connection.pipeline(transaction=True) as pipe:
            pipe.zrem(AUDIT_LOG, *old)
            for member in old:
                submission_id = _decoder.decode(member).submission_id
                if submission_id is not None:
                    pipe.zrem(submission_audit_key(submission_id), member)
            pipe.execute()
        dropped += len(old)


def forget_submissions(connection: redis.Redis, submission_ids: Collection[str]) -> int:
    """After ``submission_ids`` were erased or deleted: every log entry naming one is removed and
    added again with ``submission_id="erased"`` (its time, actor, action, detail and nonce kept),
    and their trails are deleted. Returns how many entries were rewritten.
    """
    wanted = set(submission_ids) - {ERASED}
    if not wanted:
        return 0
    found: list[tuple[bytes, float, AuditEntry]] = []
    for member, score in connection.zscan_iter(AUDIT_LOG, count=CHUNK):
        raw = member if isinstance(member, bytes) else str(member).encode()
        entry = _decoder.decode(raw)
        if entry.submission_id in wanted:
            found.append((raw, float(score), entry))
    with connection.pipeline(transaction=True) as pipe:
        for raw, score, entry in found:
            pipe.zrem(AUDIT_LOG, raw)
            erased = msgspec.structs.replace(entry, submission_id=ERASED)
            pipe.zadd(AUDIT_LOG, {_encoder.encode(erased): score})
        pipe.delete(*(submission_audit_key(i) for i in wanted))
        pipe.execute()
    return len(found)


def read_audit(
    connection: redis.Redis, submission_id: str | None = None, limit: int = 200
) -> list[AuditEntry]:
    """The newest ``limit`` entries, newest first: the whole log, or one inquiry's trail."""
    key = AUDIT_LOG if submission_id is None else submission_audit_key(submission_id)
    raw: list[bytes] = connection.zrevrange(key, 0, limit - 1)  # type: ignore[assignment]
    return [_decoder.decode(m) for m in raw]


def page_audit(
    connection: redis.Redis,
    limit: int,
    cursor: str | None = None,
    actor: str | None = None,
    action: AuditAction | None = None,
) -> AuditPage:
    """Up to ``limit`` entries of the log, newest first, from ``cursor`` on (a cursor this
    function gave out; raises :class:`~frontdesk.cursors.CursorError` for another), only those of
    ``actor`` (exact, case-insensitive) and ``action`` when given.

    A cursor is a position (:func:`~frontdesk.cursors.encode_position`): the score of the last
    entry passed and how many entries of exactly that score were passed, so entries added since
    (newer, above) do not shift the next page.
    """
    position = _position(cursor) if cursor else None
    wanted_actor = actor.strip().casefold() if actor else None
    entries: list[AuditEntry] = []
    after: tuple[float, int] | None = None
    for entry, passed in _walk(connection, position):
        if wanted_actor is not None and entry.actor.casefold() != wanted_actor:
            continue
        if action is not None and entry.action != action:
            continue
        if len(entries) == limit:
            assert after is not None
            return AuditPage(entries=entries, next_cursor=encode_position(after[0], str(after[1])))
        entries.append(entry)
        after = passed
    return AuditPage(entries=entries, next_cursor=None)


def _position(cursor: str) -> tuple[float, int]:
    score, skip = decode_position(cursor)
    if not skip.isdigit():
        raise CursorError("not a cursor of the audit log")
    return score, int(skip)


def _walk(
    connection: redis.Redis, position: tuple[float, int] | None
) -> Iterator[tuple[AuditEntry, tuple[float, int]]]:
    """Each entry of the log newest first from ``position`` on, with the position after it."""
    top: float | str = "+inf" if position is None else position[0]
    skip = 0 if position is None else position[1]
    while True:
        rows: list[tuple[bytes, float]] = connection.zrevrangebyscore(  # type: ignore[assignment]
            AUDIT_LOG, top, "-inf", start=skip, num=CHUNK, withscores=True
        )
        for member, score in rows:
            if score == top:
                skip += 1
            else:
                top, skip = score, 1
            yield _decoder.decode(member), (float(top), skip)
        if len(rows) < CHUNK:
            return
