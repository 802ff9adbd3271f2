"""Rate limits kept in Redis, atomic across processes: fixed windows checked and counted by one
Lua script, so N replicas share one budget.

A limit is ``(name, count, window seconds)``; the key of a window is
``frontdesk:rl:<name>:<window number>``. Either every limit has room and all are counted, or none
is counted and the caller gets the seconds until the fullest window resets (``Retry-After``).
"""

from __future__ import annotations

import time

import msgspec
import redis.asyncio

from services.forms.record import KEY_PREFIX

# Lua functions shared with the submission script (services/forms/claims.py). The first ``n`` KEYS
# are windows whose limits are in ARGV from ``base + 1``: a (count, ttl ms) pair per window.
# ``limits_wait`` only reads: 0 when every window has room, else the largest TTL (ms) of a full one.
# ``count_limits`` counts a hit in every window, starting its TTL on the first hit.
# ``hit_limits`` is both: counts all and returns 0, or counts none and returns the wait.
LIMITS_LUA = """
local function limits_wait(n, base)
  local wait = 0
  for i = 1, n do
    local used = tonumber(redis.call('GET', KEYS[i]) or '0')
    if used >= tonumber(ARGV[base + 2 * i - 1]) then
      local ttl = redis.call('PTTL', KEYS[i])
      if ttl > wait then wait = ttl end
    end
  end
  return wait
end
local function count_limits(n, base)
  for i = 1, n do
    if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[base + 2 * i]) end
  end
end
local function hit_limits(n, base)
  local wait = limits_wait(n, base)
  if wait == 0 then count_limits(n, base) end
  return wait
end
"""
_SCRIPT = LIMITS_LUA + "return hit_limits(#KEYS, 0)"


class Limit(msgspec.Struct, frozen=True):
    """``count`` hits per ``window`` seconds for the bucket ``name`` (e.g. ``ip:contact:1.2.3.4``)."""

    name: str
    count: int
    window: int


class RateLimiter:
    """Checks and counts :class:`Limit` sets in one Redis round trip (a Lua script)."""

    def __init__(self, connection: redis.asyncio.Redis) -> None:
        self.script = connection.register_script(_SCRIPT)

    async def hit(self, limits: list[Limit], now: float | None = None) -> int:
        """Count one hit against every limit; returns 0 when allowed, else the seconds to wait
        (≥ 1) and counts nothing. Raises ``redis.RedisError`` when Redis fails.
        """
        if not limits:
            return 0
        keys, args = window_args(limits, now)
        return wait_seconds(int(await self.script(keys=keys, args=args)))


def window_args(limits: list[Limit], now: float | None = None) -> tuple[list[str], list[int]]:
    """The Redis keys of the current windows of ``limits`` (at ``now``, Unix seconds) and the
    ARGV pairs of :data:`LIMITS_LUA`: the count and the milliseconds until the window ends.
    """
    moment = time.time() if now is None else now
    keys, args = [], []
    for limit in limits:
        window = int(moment // limit.window)
        keys.append(f"{KEY_PREFIX}rl:{limit.name}:{limit.window}:{window}")
        remaining_ms = int(((window + 1) * limit.window - moment) * 1000) + 1
        args += [limit.count, max(remaining_ms, 1)]
    return keys, args


def wait_seconds(wait_ms: int) -> int:
    """0 for a hit that was allowed, else the whole seconds to wait (≥ 1, rounded up)."""
    return 0 if wait_ms <= 0 else max(1, -(-wait_ms // 1000))
