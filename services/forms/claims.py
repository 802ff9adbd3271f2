"""Idempotency keys and duplicate detection, claimed with ``SET NX`` before the ``MULTI/EXEC``.

Two simultaneous identical posts race for the same key; the loser waits until the winner's
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

from services.forms.record import KEY_PREFIX, submission_key

IDEMPOTENCY_TTL = 86_400
DUPLICATE_TTL = 600
WAIT_SECONDS = 5.0

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different body (answer 409)."""


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
    """Claims keys, waits on winners and releases claims after a failed write."""

    def __init__(self, connection: redis.asyncio.Redis) -> None:
        self.redis = connection
        self.release_script = connection.register_script(_RELEASE)

    async def run(
        self, own_id: str, claims: list[Claim], store: Callable[[], Awaitable[None]]
    ) -> tuple[str, bool]:
        """Claim ``claims`` (each valued with ``own_id``, the new submission's id) in order, then
        call ``store``; returns ``(id, replayed)``.

        ``replayed`` is true when an earlier submission holds a claim: its id is returned and
        ``store`` is not called. Raises :class:`IdempotencyConflict`, :class:`ClaimTimeout`,
        ``redis.RedisError``, or whatever ``store`` raises (after releasing the claims).
        """
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            held: list[Claim] = []
            winner = await self._claim_all(claims, held)
            if winner is None:
                try:
                    await store()
                except BaseException:
                    await self.release(held)
                    raise
                return own_id, False
            await self.release(held)
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

    async def _claim_all(self, claims: list[Claim], held: list[Claim]) -> tuple[str, str] | None:
        """Claim each key; on the first one already taken return ``(key, winner id)``."""
        for claim in claims:
            if await self.redis.set(claim.key, claim.value, nx=True, ex=claim.ttl):
                held.append(claim)
                continue
            raw = await self.redis.get(claim.key)
            if raw is None:  # expired between SET and GET: claim again
                if await self.redis.set(claim.key, claim.value, nx=True, ex=claim.ttl):
                    held.append(claim)
                    continue
                raw = await self.redis.get(claim.key) or b""
            stored = raw.decode() if isinstance(raw, bytes) else str(raw)
            if claim.key.startswith(f"{KEY_PREFIX}idem:") and (
                stored.split("|")[-1] != claim.value.split("|")[-1]
            ):
                await self.release(held)
                raise IdempotencyConflict(claim.key)
            return claim.key, stored.split("|")[0]
        return None

    async def _point_idempotency(self, claims: list[Claim], winner_id: str) -> None:
        """A first-time idempotency key whose body duplicates another submission: remember the
        other submission's id under the key, so a replay answers the same.
        """
        for claim in claims:
            if claim.key.startswith(f"{KEY_PREFIX}idem:"):
                body_hash = claim.value.split("|")[-1]
                await self.redis.set(claim.key, f"{winner_id}|{body_hash}", nx=True, ex=claim.ttl)

    async def release(self, held: list[Claim]) -> None:
        """Delete each claim that still holds our value (compare-and-delete in Lua)."""
        for claim in held:
            try:
                await self.release_script(keys=[claim.key], args=[claim.value])
            except redis.RedisError:
                # Redis is down: the claim expires with its TTL.
                continue
