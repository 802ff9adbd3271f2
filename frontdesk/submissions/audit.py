"""The audit log: who did what to which inquiry, when — never visitor data.

An entry (:class:`AuditEntry`) names the staff member (an inbox address or a staff token's name),
the action, the submission id when there is one, and the time. It is written to
:data:`~frontdesk.submissions.keys.AUDIT_LOG` and, for an entry naming a submission, to that
inquiry's own :func:`~frontdesk.submissions.keys.submission_audit_key`, so its detail page shows its
trail. Entries older than the retention are trimmed on every write.
"""

from __future__ import annotations

import secrets
from typing import Literal

import msgspec
import redis

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


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One audited action: ``at`` (Unix seconds), ``actor`` (staff address or token name),
    ``action``, ``submission_id`` (``None`` for actions on no one inquiry; ``"erased"`` once the
    inquiry was erased) and ``detail`` (a staff-chosen value such as a new status; never visitor
    data). ``nonce`` keeps two equal entries apart in the sorted set.
    """

    at: float
    actor: str
    action: AuditAction
    submission_id: str | None = None
    detail: str | None = None
    nonce: str = msgspec.field(default_factory=lambda: secrets.token_hex(4))


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AuditEntry)


def record_audit(connection: redis.Redis, entry: AuditEntry, retention_days: int) -> None:
    """Append ``entry`` to the log (and to its inquiry's trail) and drop entries older than
    ``retention_days``; raises ``redis.RedisError``.
    """
    member = _encoder.encode(entry)
    oldest = entry.at - retention_days * 86_400
    with connection.pipeline(transaction=True) as pipe:
        pipe.zadd(AUDIT_LOG, {member: entry.at})
        pipe.zremrangebyscore(AUDIT_LOG, "-inf", f"({oldest}")
        if entry.submission_id is not None:
            trail = submission_audit_key(entry.submission_id)
            pipe.zadd(trail, {member: entry.at})
            pipe.zremrangebyscore(trail, "-inf", f"({oldest}")
            pipe.expire(trail, retention_days * 86_400)
        pipe.execute()


def read_audit(
    connection: redis.Redis, submission_id: str | None = None, limit: int = 200
) -> list[AuditEntry]:
    """The newest ``limit`` entries, newest first: the whole log, or one inquiry's trail."""
    key = AUDIT_LOG if submission_id is None else submission_audit_key(submission_id)
    raw: list[bytes] = connection.zrevrange(key, 0, limit - 1)  # type: ignore[assignment]
    return [_decoder.decode(m) for m in raw]
