"""What the inbox handlers share, built once by the app factory (no module-level state)."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import redis.asyncio

from frontdesk.settings import Settings
from frontdesk.staff_accounts import StaffMember
from frontdesk.submissions.access import SubmissionAccess
from frontdesk.submissions.ratelimit import RateLimiter
from frontdesk.submissions.rqjob import JobTemplate
from frontdesk.submissions.secret import Purpose, derive, master_key

Clock = Callable[[], float]
"""Unix seconds now; tests hand in a clock they move instead of sleeping."""


class InboxState:
    """Settings, the access to the stored submissions (catalog, store, Redis clients; also the
    staff routes' context), the staff by address, the sign-in limiter, the sign-in job template, the
    clock and the purpose keys (derived once, on first use).
    """

    def __init__(self, access: SubmissionAccess, clock: Clock = time.time) -> None:
        self.access = access
        self.settings: Settings = access.settings
        self.redis: redis.asyncio.Redis = access.redis
        self.staff: dict[str, StaffMember] = {m.address: m for m in self.settings.staff}
        self.limiter = RateLimiter(access.redis)
        self.clock = clock
        self.secure = self.settings.inbox_url.startswith("https://")
        # No retries: a link is good for 15 minutes; a relay down longer needs a new link.
        self.jobs = JobTemplate(self.settings.queue_name, [], int(self.settings.job_timeout), 600)
        self._keys: dict[Purpose, bytes] = {}

    async def key(self, purpose: Purpose) -> bytes:
        """The key of ``purpose`` (:mod:`frontdesk.submissions.secret`); raises
        ``redis.RedisError`` when the master key must be read from Redis and cannot be.
        """
        if purpose not in self._keys:
            master = await anyio.to_thread.run_sync(
                master_key, self.access.store.redis, self.settings.secret_key
            )
            self._keys[purpose] = derive(master, purpose)
        return self._keys[purpose]
