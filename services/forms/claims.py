"""Idempotency keys and duplicate detection, claimed with ``SET NX`` before the ``MULTI/EXEC``.

The rate limits of a submission and its claims go to Redis in one round trip (one Lua script): the
limits are checked and counted first (none counted when one is full, as in
:mod:`services.forms.ratelimit`), then each key is claimed with ``SET NX`` in order; when one is
taken, the keys claimed before it in the same script are deleted, so a request holds all its claims
or none. Two simultaneous identical posts race for the same key; the loser waits until the winner's
record exists and answers with the winner's id. A failed ``EXEC`` releases the claims (only if they
still hold our id), so a retry can store the submission.

- Idempotency key (header ``Idempotency-Key``): kept 24 h per form, value ``<id>|<body hash>``;
  the same key with another body is a conflict (409).
- Duplicate key: the same form, normalised email, phone (E.164) and message within 10 minutes.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import unicodedata
from collections.abc import Awaitable, Callable

import msgspec
import redis
import redis.asyncio

from services.forms.ratelimit import LIMITS_LUA, Limit, wait_seconds, window_args
from services.forms.record import KEY_PREFIX, submission_key

IDEMPOTENCY_TTL = 86_400
DUPLICATE_TTL = 600
WAIT_SECONDS = 5.0

# KEYS: the limits' window keys, then the claims' keys. ARGV[1]: the number of limits; then a
# (count, ttl ms) pair per limit; then a (value, ttl s) pair per claim.
# Returns {'limited', ms to wait}, {'taken', key, its value} or {'claimed'}.
_CLAIM = (
    LIMITS_LUA
    + """
local n = tonumber(ARGV[1])
local wait = hit_limits(n, 1)
if wait > 0 then return {'limited', wait} end
local base = 1 + 2 * n
for i = n + 1, #KEYS do
  local j = base + 2 * (i - n)
  if not redis.call('SET', KEYS[i], ARGV[j - 1], 'NX', 'EX', ARGV[j]) then
    local stored = redis.call('GET', KEYS[i])
    for k = n + 1, i - 1 do redis.call('DEL', KEYS[k]) end
    return {'taken', KEYS[i], stored}
  end
end
return {'claimed'}
"""
)
# Deletes each key of KEYS that still holds the value at the same position in ARGV.
_RELEASE = """
local deleted = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then deleted = deleted + redis.call('DEL', key) end
end
return deleted
"""


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different body (answer 409)."""


class RateLimited(Exception):
    """A rate limit of the submission is full; ``wait`` is the seconds until it has room (429)."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"rate limited for {wait} s")
        self.wait = wait


class ClaimTimeout(Exception):
    """Another request holds the claim but its submission did not appear in time (answer 503)."""


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
        key=f"{KEY_PREFIX}idem:{form_id}:{_digest(key)}",
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
        key=f"{KEY_PREFIX}dup:{form_id}:{_digest(email.casefold(), phone, text)}",
        value=submission_id,
        ttl=DUPLICATE_TTL,
    )


class Claimer:
    """Counts rate limits and claims keys (one round trip), waits on winners and releases claims
    after a failed write.
    """

    def __init__(self, connection: redis.asyncio.Redis) -> None:
        self.redis = connection
        self.claim_script = connection.register_script(_CLAIM)
        self.release_script = connection.register_script(_RELEASE)

    async def run(
        self,
        own_id: str,
        claims: list[Claim],
        store: Callable[[], Awaitable[None]],
        limits: list[Limit] | None = None,
    ) -> tuple[str, bool]:
        """Count a hit against ``limits``, claim ``claims`` (each valued with ``own_id``, the new
        submission's id) in order, then call ``store``; returns ``(id, replayed)``.

        ``replayed`` is true when an earlier submission holds a claim: its id is returned and
        ``store`` is not called. Raises :class:`RateLimited` (nothing claimed),
        :class:`IdempotencyConflict`, :class:`ClaimTimeout`, ``redis.RedisError``, or whatever
        ``store`` raises (after releasing the claims).
        """
        deadline = time.monotonic() + WAIT_SECONDS
        pending = limits or []
        while True:
            winner = await self._claim_all(claims, pending)
            pending = []  # a retry after a vanished winner is the same hit: counted once
            if winner is None:
                try:
                    await store()
                except BaseException:
                    await self.release(claims)
                    raise
                return own_id, False
            # Wait for the winner's record; if its claim vanishes (its EXEC failed), try again.
            while time.monotonic() < deadline:
                if await self.redis.exists(submission_key(winner[1])):
                    await self._point_idempotency(claims, winner[1])
                    return winner[1], True
                if await self.redis.get(winner[0]) is None:
                    break
                await asyncio.sleep(0.02)
            else:
                raise ClaimTimeout(winner[1])

    async def _claim_all(self, claims: list[Claim], limits: list[Limit]) -> tuple[str, str] | None:
        """Count ``limits`` and claim every key (all or none held afterwards); on the first key
        already taken return ``(key, winner id)``.
        """
        if not claims and not limits:
            return None
        keys, limit_args = window_args(limits)
        keys += [claim.key for claim in claims]
        args: list[str | int] = [len(limits), *limit_args]
        for claim in claims:
            args += [claim.value, claim.ttl]
        answer = await self.claim_script(keys=keys, args=args)
        outcome = _text(answer[0])
        if outcome == "limited":
            raise RateLimited(wait_seconds(int(answer[1])))
        if outcome == "claimed":
            return None
        key, stored = _text(answer[1]), _text(answer[2])
        claim = next(c for c in claims if c.key == key)
        if key.startswith(f"{KEY_PREFIX}idem:") and (
            stored.split("|")[-1] != claim.value.split("|")[-1]
        ):
            raise IdempotencyConflict(key)
        return key, stored.split("|")[0]

    async def _point_idempotency(self, claims: list[Claim], winner_id: str) -> None:
        """A first-time idempotency key whose body duplicates another submission: remember the
        other submission's id under the key, so a replay answers the same.
        """
        for claim in claims:
            if claim.key.startswith(f"{KEY_PREFIX}idem:"):
                body_hash = claim.value.split("|")[-1]
                await self.redis.set(claim.key, f"{winner_id}|{body_hash}", nx=True, ex=claim.ttl)

    async def release(self, held: list[Claim]) -> None:
        """Delete each claim that still holds our value (compare-and-delete in Lua, one round
        trip); when Redis is down the claims expire with their TTL.
        """
        if not held:
            return
        try:
            await self.release_script(
                keys=[claim.key for claim in held], args=[claim.value for claim in held]
            )
        except redis.RedisError:
            return


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
