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

# KEYS: one per limit; ARGV: count, ttl pairs. Returns 0 (allowed) or the largest TTL of a full window.
_SCRIPT = """
local wait = 0
for i, key in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', key) or '0')
  if used >= tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local used = redis.call('INCR', key)
  if used == 1 then redis.call('PEXPIRE', key, ARGV[2 * i]) end
end
return 0
"""


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
        moment = time.time() if now is None else now
        keys, args = [], []
        for limit in limits:
            window = int(moment // limit.window)
            keys.append(f"{KEY_PREFIX}rl:{limit.name}:{limit.window}:{window}")
            remaining_ms = int(((window + 1) * limit.window - moment) * 1000) + 1
            args += [limit.count, max(remaining_ms, 1)]
        wait_ms = int(await self.script(keys=keys, args=args))
        return 0 if wait_ms <= 0 else max(1, -(-wait_ms // 1000))
