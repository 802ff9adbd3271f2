"""Per-minute limits of the forms service's cheap public reads (the phone check, ALTCHA
challenges): past the limit 429 ``rate_limited`` with ``Retry-After``, readable from any origin.
"""

from __future__ import annotations

import redis

from frontdesk.problems import ProblemError
from frontdesk.submissions.ratelimit import Limit, RateLimiter
from services.forms.web import ANY_ORIGIN


async def limit_per_minute(
    limiter: RateLimiter, enabled: bool, key: str, per_minute: int, what: str
) -> None:
    """Count one request under ``key`` (a name and the client's bucket), at most ``per_minute``
    a minute; past them raise 429 ``rate_limited`` ("Too many ``what``…"). ``enabled`` is
    ``FRONTDESK_RATE_LIMITS``. When Redis does not answer the request goes on: what these limits
    guard needs no storage.
    """
    if not enabled:
        return
    try:
        wait = await limiter.hit([Limit(key, per_minute, 60)])
    except redis.RedisError:
        return
    if wait:
        raise ProblemError(
            429,
            "rate_limited",
            f"Too many {what}; try again in {wait} seconds.",
            headers={"Retry-After": str(wait), **ANY_ORIGIN},
        )
