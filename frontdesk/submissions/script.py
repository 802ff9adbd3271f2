"""The submission script: a submission's rate limits, claims and write in one Redis round trip.

One Lua script (:data:`SUBMIT_LUA`), which Redis runs atomically like a ``MULTI/EXEC``: no other
client's command runs between its commands. It first only reads: the limits
(:mod:`frontdesk.submissions.ratelimit`), each claim key, the types of the keys it writes. A full
limit answers ``limited`` (nothing counted or claimed); a claim key already held answers ``taken``
with the holder's value (the hit is counted, nothing claimed or stored). Otherwise it counts the
hit, claims each key with ``SET`` (none was set: nothing runs in between) and writes the record,
its index entry and its jobs. Besides the hard limits (per IP: past them ``limited``) it picks the
first of the form's hourly tiers with room, and a held tier stores the submission quarantined
``form_cap``; an auto-reply past its recipient bounds is left out and recorded ``skipped``
(:mod:`frontdesk.submissions.budget`). Every error (a key of the wrong type, out of memory at the
first write) comes before the first write, so it writes all of it or nothing — unlike ``EXEC``,
which does not undo the commands before one that fails — and claims never exist without their
record.

The script's text, its KEYS/ARGV layout (the header of :data:`SUBMIT_LUA`), the one function that
builds its keys and arguments from typed inputs (:func:`submit_arguments`), its answers and
:meth:`SubmitScript.run`, the one place that runs it, are all here. The window functions it starts
with are :data:`frontdesk.submissions.ratelimit.LIMITS_LUA`, which the rate limiter's own scripts
share. What to do with a ``taken`` claim (replay, conflict, a stale claim freed) is
:class:`frontdesk.submissions.claims.Claimer`'s.
"""

from __future__ import annotations

import msgspec
import redis.asyncio

from frontdesk.submissions.batching import ScriptBatch
from frontdesk.submissions.budget import HELD_COUNT_TTL, NO_BUDGET, Budget
from frontdesk.submissions.keys import (
    IDEMPOTENCY_PREFIX,
    NO_HELD_KEY,
    QUEUES_KEY,
    form_index_key,
    job_id,
    job_key,
    submission_key,
)
from frontdesk.submissions.ratelimit import (
    LIMITS_LUA,
    Limit,
    tier_window_args,
    wait_seconds,
    window_args,
)
from frontdesk.submissions.store import StoreWrite

SUBMIT_LUA = (
    """
-- The submission script. Counts: n hard limits, t tiers, r recipient bounds, m claims.
-- KEYS[1 .. n]            the hard limits' current windows
-- KEYS[n+1 .. n+t]        the form's tier windows, in order
-- KEYS[n+t+1 .. kc]       the auto-reply's recipient windows (kc = n+t+r)
-- KEYS[kc+1 .. kc+m]      the claim keys: idempotency first, then duplicate
-- KEYS[kh]                the held counter of this hour (kh = kc+m+1)
-- KEYS[kh+1]              the record
-- KEYS[kh+2]              the form's index (a sorted set)
-- KEYS[kh+3]              rq:queues
-- KEYS[kh+4]              the queue (a list)
-- KEYS[kh+5 ..]           one job hash per job, in the order of the write plan's jobs
-- ARGV[1 .. 4]            n, t, r, m
-- ARGV[5]                 how many claims a held submission makes (the idempotency ones)
-- ARGV[6]                 the held record ('': the record as built, already quarantined)
-- ARGV[7]                 the held counter's TTL (s)
-- ARGV[8], ARGV[9]        the auto-reply state's byte offset and length in the record
-- ARGV[10]                the auto-reply's index among the jobs (0: no auto-reply to bound)
-- ARGV[11 .. 10+r]        the auto-reply's skipped state for each full recipient bound
-- ARGV[al+1 ..]           a (count, ttl ms) pair per hard limit (al = 10+r)
-- ARGV[at+1 ..]           a (count, ttl ms, 'hold' | 'keep') triple per tier (at = al+2n)
-- ARGV[ar+1 ..]           a (count, ttl ms) pair per recipient bound (ar = at+3t)
-- ARGV[ac+1 ..]           a (value, ttl s) pair per claim (ac = ar+2r)
-- ARGV[aw]                the write plan, msgpack {ttl s, index score, id, {{job id, {field,
--                         value, ...}}, ...}} (text only: Lua's msgpack has no binary type)
-- ARGV[aw+1]              the record as built (aw = ac+2m+1)
-- ARGV[aw+1+i]            job i's binary data field
-- Answers {'limited', ms to wait}, {'taken', key, its value} or {'stored', 'kept' | 'held'}.
"""
    + LIMITS_LUA
    + """
local function check_store(k)
  local expected = {'zset', 'set', 'list'}
  for i = 1, 3 do
    local found = redis.call('TYPE', KEYS[k + i])['ok']
    if found ~= 'none' and found ~= expected[i] then
      return redis.error_reply('WRONGTYPE ' .. KEYS[k + i] .. ' is a ' .. found)
    end
  end
  for i = k + 4, #KEYS do
    local found = redis.call('TYPE', KEYS[i])['ok']
    if found ~= 'none' and found ~= 'hash' then
      return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' is a ' .. found)
    end
  end
  return nil
end
-- Writes record (the plan's, or the version chosen below) and every job but the skip-th
-- (0: none left out, -1: all).
local function write_store(k, a, record, skip)
  local w = cmsgpack.unpack(ARGV[a])
  redis.call('SET', KEYS[k], record, 'EX', w[1])
  redis.call('ZADD', KEYS[k + 1], w[2], w[3])
  local jobs = w[4]
  if skip == -1 then jobs = {} end
  if #jobs > 0 then redis.call('SADD', KEYS[k + 2], KEYS[k + 3]) end
  for i, job in ipairs(jobs) do
    if i ~= skip then
      redis.call('HSET', KEYS[k + 3 + i], 'data', ARGV[a + 1 + i], unpack(job[2]))
      redis.call('RPUSH', KEYS[k + 3], job[1])
    end
  end
end

local n, t, r, m = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local kc = n + t + r
local kh = kc + m + 1
local al = 10 + r
local at = al + 2 * n
local ar = at + 3 * t
local ac = ar + 2 * r
local aw = ac + 2 * m + 1
local wait = limits_wait(0, n, al)
local tier = 0
if wait == 0 then tier, wait = pick_tier(n, t, at) end
if wait > 0 then return {'limited', wait} end
for i = kc + 1, kc + m do
  local held = redis.call('GET', KEYS[i])
  if held then
    count_limits(0, n, al)
    return {'taken', KEYS[i], held}
  end
end
local failed = check_store(kh + 1)
if failed then return failed end
local hold = tier > 0 and ARGV[at + 3 * tier] == 'hold'
local full = 0
if hold then
  redis.call('GET', KEYS[kh])  -- a key of the wrong type fails here, before the first write
elseif r > 0 then
  full = full_limit(n + t, r, ar)
end
-- Every read and check is done: from here on, only writes.
count_limits(0, n, al)
if tier > 0 then count_window(KEYS[n + tier], ARGV[at + 3 * tier - 1]) end
local record, skip, claims = ARGV[aw + 1], 0, m
if hold then
  if ARGV[6] ~= '' then record = ARGV[6] end
  skip, claims = -1, tonumber(ARGV[5])
  redis.call('INCR', KEYS[kh])
  redis.call('EXPIRE', KEYS[kh], ARGV[7])
elseif full > 0 then
  local from, length = tonumber(ARGV[8]), tonumber(ARGV[9])
  record = string.sub(record, 1, from) .. ARGV[10 + full] .. string.sub(record, from + length + 1)
  skip = tonumber(ARGV[10])
elseif r > 0 then
  count_limits(n + t, r, ar)
end
for i = 1, claims do
  redis.call('SET', KEYS[kc + i], ARGV[ac + 2 * i - 1], 'EX', ARGV[ac + 2 * i])
end
write_store(kh + 1, aw, record, skip)
if hold then return {'stored', 'held'} end
return {'stored', 'kept'}
"""
)


class Claim(msgspec.Struct, kw_only=True):
    """A key the script claims: Redis ``key``, stored ``value`` (starts with the submission id),
    TTL in s (see :mod:`frontdesk.submissions.claims`).
    """

    key: str
    value: str
    ttl: int


class SubmitCall(msgspec.Struct, frozen=True, kw_only=True):
    """One run of the script: count a hit against ``limits`` and the first of ``budget``'s tiers
    with room, claim ``claims``, write ``write`` (or the version ``budget`` chooses).
    """

    write: StoreWrite
    claims: list[Claim] = []
    limits: list[Limit] = []
    budget: Budget = NO_BUDGET


class Limited(msgspec.Struct, frozen=True):
    """A limit or every tier is full: nothing counted, claimed or written; ``wait`` seconds (≥ 1)."""

    wait: int


class Taken(msgspec.Struct, frozen=True):
    """Claim ``key`` is held already, its ``value`` naming the holder; the hit was counted."""

    key: str
    value: str


class Written(msgspec.Struct, frozen=True):
    """Claimed and stored; ``held`` when a held tier stored it quarantined ``form_cap``."""

    held: bool


def submit_arguments(
    call: SubmitCall, now: float | None = None
) -> tuple[list[str], list[str | int | bytes]]:
    """The KEYS and ARGV of :data:`SUBMIT_LUA` for ``call``, its windows those of ``now`` (Unix
    seconds; default: now). The layout is the script's header.
    """
    budget, write = call.budget, call.write
    # Idempotency claims first: a held submission makes only those.
    claims = sorted(call.claims, key=lambda c: not c.key.startswith(IDEMPOTENCY_PREFIX))
    keys, limit_args = window_args(call.limits, now)
    tier_keys, tier_args = tier_window_args(budget.tiers, now)
    reply_keys, reply_args = window_args(budget.recipients, now)
    job_ids = [job_id(write.submission_id, kind) for kind in write.kinds]
    keys += tier_keys + reply_keys
    keys += [claim.key for claim in claims]
    keys += [
        budget.held_key or NO_HELD_KEY,
        submission_key(write.submission_id),
        form_index_key(write.form),
        QUEUES_KEY,
        write.queue_key,
        *(job_key(i) for i in job_ids),
    ]
    held_claims = sum(c.key.startswith(IDEMPOTENCY_PREFIX) for c in claims)
    args: list[str | int | bytes] = [
        len(call.limits),
        len(budget.tiers),
        len(budget.recipients),
        len(claims),
        held_claims,
        budget.held_record,
        HELD_COUNT_TTL,
        budget.reply_at,
        budget.reply_length,
        budget.reply_job,
        *budget.skipped_states[: len(budget.recipients)],
        *limit_args,
        *tier_args,
        *reply_args,
    ]
    for claim in claims:
        args += [claim.value, claim.ttl]
    plan = [
        str(write.ttl),
        repr(write.created_ms),
        write.submission_id,
        [[i, job.fields] for i, job in zip(job_ids, write.jobs, strict=True)],
    ]
    args += [msgspec.msgpack.encode(plan), write.record, *(job.data for job in write.jobs)]
    return keys, args


def read_answer(answer: list[bytes | str | int]) -> Limited | Taken | Written:
    """The script's answer as a struct."""
    outcome = _text(answer[0])
    if outcome == "limited":
        return Limited(wait_seconds(int(answer[1])))
    if outcome == "stored":
        return Written(held=_text(answer[1]) == "held")
    return Taken(_text(answer[1]), _text(answer[2]))


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SubmitScript:
    """The script registered on an asyncio client; the runs of one event-loop turn share one
    pipeline (:class:`~frontdesk.submissions.batching.ScriptBatch`).
    """

    def __init__(self, connection: redis.asyncio.Redis) -> None:
        self.batch = ScriptBatch(connection, connection.register_script(SUBMIT_LUA))

    async def run(self, call: SubmitCall) -> Limited | Taken | Written:
        """Run the script once for ``call``. Raises ``redis.RedisError`` (a key of the wrong type:
        nothing written; the answer lost after Redis ran it: all of it written).
        """
        keys, args = submit_arguments(call)
        return read_answer(await self.batch.call(keys, args))
