"""Storing submissions in tests the way the forms service does: the submission script, through an
asyncio client (:class:`frontdesk.submissions.claims.Claimer`), with no limits or claims.
"""

from __future__ import annotations

import asyncio

import redis.asyncio

from frontdesk.submissions.claims import Claimer
from frontdesk.submissions.record import MessageKind, Submission
from frontdesk.submissions.store import SubmissionStore


def store_submission(
    redis_url: str,
    store: SubmissionStore,
    submission: Submission,
    retention_days: int,
    kinds: list[MessageKind],
) -> None:
    """Store ``submission`` with one job per kind of ``kinds`` in the Redis at ``redis_url`` (the
    one ``store`` writes to), its record kept ``retention_days``. Raises ``redis.RedisError``.
    """

    async def run() -> None:
        connection = redis.asyncio.Redis.from_url(redis_url)
        try:
            write = store.prepare(submission, retention_days, kinds)
            await Claimer(connection).run(submission.id, [], write)
        finally:
            await connection.aclose()

    asyncio.run(run())
