"""Rate limits kept in Redis, atomic across processes: fixed windows checked and counted by one
Lua script, so N replicas share one budget.

A limit is ``(name, count, window seconds)``; the key of a window is
:func:`frontdesk.submissions.keys.rate_window_key`. Either every limit has room and all are counted, or none
is counted and the caller gets the seconds until the fullest window resets (``Retry-After``).
"""

from __future__ import annotations

import time

import msgspec
import redis.asyncio

from frontdesk.submissions.keys import rate_window_key

# Lua functions of the window counts, the start of the submission script
# (frontdesk/submissions/script.py), the rate limiter's scripts below and the staff sign-in
# throttle's. ``n`` windows are KEYS[k + 1 .. k + n], their limits in ARGV from ``base + 1``: a
# (count, ttl ms) pair per window.
# ``used`` is a window's count (0 before its first hit); ``is_full`` whether window ``i`` is at its
# limit.
# ``limits_wait`` only reads: 0 when every window has room, else the largest TTL (ms) of a full one.
# ``full_limit`` only reads: the index of the first full window, 0 when none is.
# ``count_limits`` counts a hit in every window, starting its TTL on the first hit.
# ``hit_limits`` is both: counts all and returns 0, or counts none and returns the wait.
# ``pick_tier`` reads ``t`` tiers (KEYS[k + i], a (count, ttl ms, outcome) triple each from
# ``base + 1``): the first with room and 0, or 0 and the smallest TTL (ms) when all are full.
LIMITS_LUA = """
local function window_wait(key)
  local ttl = redis.call('PTTL', key)
  if ttl < 1 then return 1 end
  return ttl
end
local function used(key)
  return tonumber(redis.call('GET', key) or '0')
end
local function is_full(k, i, base)
  return used(KEYS[k + i]) >= tonumber(ARGV[base + 2 * i - 1])
end
local function limits_wait(k, n, base)
  local wait = 0
  for i = 1, n do
    if is_full(k, i, base) then
      local ttl = window_wait(KEYS[k + i])
      if ttl > wait then wait = ttl end
    end
  end
  return wait
end
local function full_limit(k, n, base)
  for i = 1, n do
    if is_full(k, i, base) then return i end
  end
  return 0
end
local function count_window(key, ttl)
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ttl) end
end
local function count_limits(k, n, base)
  for i = 1, n do count_window(KEYS[k + i], ARGV[base + 2 * i]) end
end
local function hit_limits(k, n, base)
  local wait = limits_wait(k, n, base)
  if wait == 0 then count_limits(k, n, base) end
  return wait
end
local function pick_tier(k, t, base)
  local wait = 0
  for i = 1, t do
    if used(KEYS[k + i]) < tonumber(ARGV[base + 3 * i - 2]) then return i, 0 end
    local ttl = window_wait(KEYS[k + i])
    if wait == 0 or ttl < wait then wait = ttl end
  end
  return 0, wait
end
"""
# Counts a hit in every window, or none. KEYS: the windows; ARGV: a (count, ttl ms) pair per
# window. Returns 0 (counted) or the ms until the fullest window resets.
_SCRIPT = LIMITS_LUA + "return hit_limits(0, #KEYS, 0)"
# Only reads. KEYS: n limit windows, then t tier windows; ARGV: n, t, the limits' pairs, the
# tiers' triples. Returns 0 when every limit and some tier has room, else the ms to wait.
_CHECK = (
    LIMITS_LUA
    + """
local n, t = tonumber(ARGV[1]), tonumber(ARGV[2])
local wait = limits_wait(0, n, 2)
if wait == 0 and t > 0 then
  local tier
  tier, wait = pick_tier(n, t, 2 + 2 * n)
end
return wait
"""
)


class Limit(msgspec.Struct, frozen=True):
    """``count`` hits per ``window`` seconds for the bucket ``name`` (e.g. ``ip:contact:1.2.3.4``)."""

    name: str
    count: int
    window: int


class Tier(msgspec.Struct, frozen=True):
    """One budget of a form's hourly tiers (see :func:`frontdesk.submissions.budget.form_tiers`): a
    submission is counted in the first tier with room, and ``hold`` says whether that tier keeps
    it quarantined (``form_cap``) instead of delivering it.
    """

    limit: Limit
    hold: bool


class RateLimiter:
    """Checks and counts :class:`Limit` sets in one Redis round trip (a Lua script)."""

    def __init__(self, connection: redis.asyncio.Redis) -> None:
        self.script = connection.register_script(_SCRIPT)
        self.check_script = connection.register_script(_CHECK)

    async def hit(self, limits: list[Limit], now: float | None = None) -> int:
        """Count one hit against every limit; returns 0 when allowed, else the seconds to wait
        (≥ 1) and counts nothing. Raises ``redis.RedisError`` when Redis fails.
        """
        if not limits:
            return 0
        keys, args = window_args(limits, now)
        return wait_seconds(int(await self.script(keys=keys, args=args)))

    async def check(self, limits: list[Limit], tiers: list[Tier], now: float | None = None) -> int:
        """Whether a submission would be refused, without counting anything: 0 when every limit
        has room and some tier has, else the seconds to wait (≥ 1). Raises ``redis.RedisError``.

        Run before a costly check (the CAPTCHA provider): a post the limits refuse never reaches
        it. The submission script checks again, and counts. ``now`` (Unix seconds) picks the
        windows, as in :meth:`hit`.
        """
        if not limits and not tiers:
            return 0
        keys, args = window_args(limits, now)
        tier_keys, tier_args = tier_window_args(tiers, now)
        answer = await self.check_script(
            keys=[*keys, *tier_keys], args=[len(limits), len(tiers), *args, *tier_args]
        )
        return wait_seconds(int(answer))


def window_args(limits: list[Limit], now: float | None = None) -> tuple[list[str], list[int]]:
    """The Redis keys of the current windows of ``limits`` (at ``now``, Unix seconds) and the
    ARGV pairs of :data:`LIMITS_LUA`: the count and the milliseconds until the window ends.
    """
    moment = time.time() if now is None else now
    keys, args = [], []
    for limit in limits:
        window = int(moment // limit.window)
        keys.append(rate_window_key(limit.name, limit.window, window))
        remaining_ms = int(((window + 1) * limit.window - moment) * 1000) + 1
        args += [limit.count, max(remaining_ms, 1)]
    return keys, args


def tier_window_args(
    tiers: list[Tier], now: float | None = None
) -> tuple[list[str], list[int | str]]:
    """The keys of the tiers' current windows and their ARGV triples for ``pick_tier``: the
    count, the milliseconds until the window ends, and ``hold`` or ``keep``.
    """
    keys, pairs = window_args([tier.limit for tier in tiers], now)
    args: list[int | str] = []
    for i, tier in enumerate(tiers):
        args += [pairs[2 * i], pairs[2 * i + 1], "hold" if tier.hold else "keep"]
    return keys, args


def wait_seconds(wait_ms: int) -> int:
    """0 for a hit that was allowed, else the whole seconds to wait (≥ 1, rounded up)."""
    return 0 if wait_ms <= 0 else max(1, -(-wait_ms // 1000))
