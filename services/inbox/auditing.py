"""Writing and reading the audit log from the inbox's async handlers
(:mod:`frontdesk.submissions.audit`: the blocking calls run in a worker thread).

Not a route module: the route modules (services/inbox/pages.py, admin.py, and any part's) import
:func:`audited` from here to write an entry dated by the inbox's clock.
"""

from __future__ import annotations

import datetime as dt

import anyio

from frontdesk.submissions.audit import AuditAction, AuditEntry, read_audit, record_audit
from services.inbox.state import InboxState


async def audited(
    state: InboxState,
    actor: str,
    action: AuditAction,
    submission_id: str | None = None,
    detail: str | None = None,
) -> None:
    """Record ``actor``'s ``action`` now (the inbox's clock); ``detail`` is staff-chosen, never
    visitor data. Raises ``redis.RedisError``.
    """
    entry = AuditEntry(
        at=state.clock(),
        actor=actor,
        action=action,
        submission_id=submission_id,
        detail=detail,
    )
    retention = state.settings.audit_retention_days
    await anyio.to_thread.run_sync(record_audit, state.access.store.redis, entry, retention)


def when(at: float) -> str:
    """An entry's time as the pages show it: UTC, to the second."""
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


async def trail_of(state: InboxState, submission_id: str) -> list[tuple[str, AuditEntry]]:
    """One inquiry's audit entries, newest first (the newest 200), each with its time shown
    (:func:`when`), for templates/_trail.html.
    """
    entries = await anyio.to_thread.run_sync(read_audit, state.access.store.redis, submission_id)
    return [(when(e.at), e) for e in entries]
