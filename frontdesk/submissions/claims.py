"""A submission's one round trip: rate limits, idempotency and duplicate claims, and the write.

One Lua script (:data:`_SUBMIT`) does all of it, atomically: Redis runs a script like a
``MULTI/EXEC``, no other client's command between its commands. It first only reads: the limits
(:mod:`frontdesk.submissions.ratelimit`), each claim key, the types of the keys it writes. A full limit
answers ``limited`` (nothing counted or claimed); a claim key already held answers ``taken`` with the
holder's value (the hit is counted, nothing claimed or stored). Otherwise it counts the hit, claims
each key with ``SET`` (none was set: nothing runs in between) and stores the submission
(:data:`frontdesk.submissions.store.STORE_LUA`). Besides the hard limits (per IP: past them ``limited``)
it picks the first of the form's hourly tiers with room, and a held tier stores the submission
quarantined ``form_cap``; an auto-reply past its recipient bounds is left out and recorded
``skipped`` (:mod:`frontdesk.submissions.budget`). Every error (Redis unreachable, a key of the wrong type,
out of memory at the first write) comes before the first write, so it writes all or nothing; claims
never exist without their record, and nothing is left to release after a failure.

Two simultaneous identical posts race for the same key; the loser answers with the winner's id,
whose record exists at once (both were written together). A claim whose record is gone (erased,
deleted, expired, evicted) is stale: it is freed (only while it still names that record,
:data:`frontdesk.submissions.erasure.FREE_CLAIMS_LUA`) and the post claims again, so the person's
identical post after an erasure is stored, not kept waiting.

- Idempotency key (header ``Idempotency-Key``): kept 24 h per form, value ``<id>|<body hash>``;
  the same key with another body is a conflict (409).
- Duplicate key: the same form, normalised email, phone (E.164) and message within 10 minutes.
"""

from __future__ import annotations

import hashlib
import time
import unicodedata

import msgspec
import redis.asyncio

from frontdesk.submissions.batching import ScriptBatch
from frontdesk.submissions.budget import HELD_COUNT_TTL, Budget
from frontdesk.submissions.erasure import FREE_CLAIMS_LUA
from frontdesk.submissions.keys import (
    IDEMPOTENCY_PREFIX,
    NO_HELD_KEY,
    duplicate_key,
    idempotency_key,
    submission_key,
)
from frontdesk.submissions.ratelimit import (
    LIMITS_LUA,
    Limit,
    tier_window_args,
    wait_seconds,
    window_args,
)
from frontdesk.submissions.store import STORE_LUA, StoreWrite

IDEMPOTENCY_TTL = 86_400
DUPLICATE_TTL = 600
WAIT_SECONDS = 5.0

# KEYS: the hard limits' windows (n), the form's tier windows (t), the auto-reply's recipient
# windows (r), the claims' keys (m: idempotency first, then duplicate), the held counter, then the
# store's keys. ARGV: n, t, r, m, the number of claims a held submission makes (idempotency only),
# the held record ('' : the record as built), the held counter's TTL (s), the auto-reply's byte
# offset and length in the record and its job's index (0: no auto-reply to bound), then r skipped
# states; then a (count, ttl ms) pair per limit, a (count, ttl ms, outcome) triple per tier, a
# pair per recipient window, a (value, ttl s) pair per claim; then the store's arguments.
# Returns {'limited', ms to wait}, {'taken', key, its value} or {'stored', 'kept' | 'held'}.
_SUBMIT = (
    LIMITS_LUA
    + STORE_LUA
    + """
local n, t, r, m = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local kc = n + t + r
local kh = kc + m + 1
local al = 10 + r
local at = al + 2 * n
local ar = at + 3 * t
local ac = ar + 2 * r
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
local record, skip, claims = ARGV[ac + 2 * m + 2], 0, m
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
write_store(kh + 1, ac + 2 * m + 1, record, skip)
if hold then return {'stored', 'held'} end
return {'stored', 'kept'}
"""
)


class Stored(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of :meth:`Claimer.run`: the answered ``id``; ``replayed`` when it is an earlier
    submission's (nothing stored); ``held`` when this one was stored quarantined ``form_cap``.
    """

    id: str
    replayed: bool = False
    held: bool = False


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different body (answer 409)."""


class RateLimited(Exception):
    """A rate limit of the submission is full; ``wait`` is the seconds until it has room (429)."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"rate limited for {wait} s")
        self.wait = wait


class ClaimTimeout(Exception):
    """Claims stayed stale or were taken again for ``WAIT_SECONDS`` (answer 503)."""


class Claim(msgspec.Struct, kw_only=True):
    """A key to claim: Redis ``key``, stored ``value`` (starts with the submission id), TTL in s."""

    key: str
    value: str
    ttl: int


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def idempotency_claim(form_id: str, key: str, body: bytes, submission_id: str) -> Claim:
    """The claim of an ``Idempotency-Key``; the body hash tells a replay from a conflict."""
    body_hash = hashlib.sha256(body).hexdigest()[:32]
    return Claim(
        key=idempotency_key(form_id, _digest(key)),
        value=f"{submission_id}|{body_hash}",
        ttl=IDEMPOTENCY_TTL,
    )


def duplicate_claim(
    form_id: str, email: str, phone: str, message: str, submission_id: str
) -> Claim:
    """The claim of a content fingerprint: email case-folded, message NFC with runs of whitespace
    collapsed and case-folded, phone as E.164 (or as typed when it has none).
    """
    text = " ".join(unicodedata.normalize("NFC", message).split()).casefold()
    return Claim(
        key=duplicate_key(form_id, _digest(email.casefold(), phone, text)),
        value=submission_id,
        ttl=DUPLICATE_TTL,
    )


class Claimer:
    """Runs a submission's one round trip (limits, claims, write) and waits on an earlier
    submission holding a claim.
    """

    def __init__(self, connection: redis.asyncio.Redis) -> None:
        self.redis = connection
        self.script = ScriptBatch(connection, connection.register_script(_SUBMIT))
        self.free_claims = connection.register_script(FREE_CLAIMS_LUA)

    async def run(
        self,
        own_id: str,
        claims: list[Claim],
        write: StoreWrite,
        limits: list[Limit] | None = None,
        budget: Budget | None = None,
    ) -> Stored:
        """Count a hit against ``limits`` and the first of ``budget``'s tiers with room, claim
        ``claims`` (each valued with ``own_id``, the new submission's id) and store ``write`` (or
        the version ``budget`` chooses), all or nothing.

        A claim key already held by an earlier submission: its id is returned (``replayed``) and
        nothing is stored. Raises :class:`RateLimited` (nothing counted, claimed or stored),
        :class:`IdempotencyConflict`, :class:`ClaimTimeout` or ``redis.RedisError`` (nothing
        written, or — when the answer was lost after Redis ran the script — all of it).
        """
        deadline = time.monotonic() + WAIT_SECONDS
        pending = limits or []
        plan = budget or Budget()
        while True:
            winner = await self._submit(own_id, claims, write, pending, plan)
            pending = []  # a retry after a stale claim is the same hit: counted once
            if isinstance(winner, Stored):
                return winner
            key, holder = winner
            if await self.redis.exists(submission_key(holder)):
                await self._point_idempotency(claims, holder)
                return Stored(id=holder, replayed=True)
            # Written with its record by one script, the claim is stale: free it, claim again.
            if time.monotonic() >= deadline:
                raise ClaimTimeout(holder)
            await self.free_claims(keys=[key], args=[holder])

    async def _submit(
        self,
        own_id: str,
        claims: list[Claim],
        write: StoreWrite,
        limits: list[Limit],
        budget: Budget,
    ) -> Stored | tuple[str, str]:
        """One run of the script: :class:`Stored` when stored; ``(key, winner id)`` for the
        first claim key already held.
        """
        # Idempotency claims first: a held submission makes only those (see _SUBMIT).
        claims = sorted(claims, key=lambda c: not c.key.startswith(IDEMPOTENCY_PREFIX))
        keys, limit_args = window_args(limits)
        tier_keys, tier_args = tier_window_args(budget.tiers)
        reply_keys, reply_args = window_args(budget.recipients)
        keys += tier_keys + reply_keys
        keys += [claim.key for claim in claims]
        keys.append(budget.held_key or NO_HELD_KEY)
        keys += write.keys
        held_claims = sum(c.key.startswith(IDEMPOTENCY_PREFIX) for c in claims)
        args: list[str | int | bytes] = [
            len(limits),
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
        args += write.args
        answer = await self.script.call(keys, args)
        outcome = _text(answer[0])
        if outcome == "limited":
            raise RateLimited(wait_seconds(int(answer[1])))
        if outcome == "stored":
            return Stored(id=own_id, held=_text(answer[1]) == "held")
        key, stored = _text(answer[1]), _text(answer[2])
        claim = next(c for c in claims if c.key == key)
        if key.startswith(IDEMPOTENCY_PREFIX) and (
            stored.split("|")[-1] != claim.value.split("|")[-1]
        ):
            raise IdempotencyConflict(key)
        return key, stored.split("|")[0]

    async def _point_idempotency(self, claims: list[Claim], winner_id: str) -> None:
        """A first-time idempotency key whose body duplicates another submission: remember the
        other submission's id under the key, so a replay answers the same.
        """
        for claim in claims:
            if claim.key.startswith(IDEMPOTENCY_PREFIX):
                body_hash = claim.value.split("|")[-1]
                await self.redis.set(claim.key, f"{winner_id}|{body_hash}", nx=True, ex=claim.ttl)


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
