"""Idempotency and duplicate claims, and the loop that runs a submission's one round trip.

The submission script (:mod:`frontdesk.submissions.script`) claims a post's keys with its record.
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

from frontdesk.submissions.budget import Budget
from frontdesk.submissions.erasure import FREE_CLAIMS_LUA
from frontdesk.submissions.keys import (
    IDEMPOTENCY_PREFIX,
    duplicate_key,
    idempotency_key,
    submission_key,
)
from frontdesk.submissions.ratelimit import Limit
from frontdesk.submissions.script import Claim, Limited, SubmitCall, SubmitScript, Written
from frontdesk.submissions.store import StoreWrite

IDEMPOTENCY_TTL = 86_400
DUPLICATE_TTL = 600
WAIT_SECONDS = 5.0


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
        self.script = SubmitScript(connection)
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
        call = SubmitCall(write=write, claims=claims, limits=limits, budget=budget)
        answer = await self.script.run(call)
        if isinstance(answer, Limited):
            raise RateLimited(answer.wait)
        if isinstance(answer, Written):
            return Stored(id=own_id, held=answer.held)
        claim = next(c for c in claims if c.key == answer.key)
        if answer.key.startswith(IDEMPOTENCY_PREFIX) and (
            answer.value.split("|")[-1] != claim.value.split("|")[-1]
        ):
            raise IdempotencyConflict(answer.key)
        return answer.key, answer.value.split("|")[0]

    async def _point_idempotency(self, claims: list[Claim], winner_id: str) -> None:
        """A first-time idempotency key whose body duplicates another submission: remember the
        other submission's id under the key, so a replay answers the same.
        """
        for claim in claims:
            if claim.key.startswith(IDEMPOTENCY_PREFIX):
                body_hash = claim.value.split("|")[-1]
                await self.redis.set(claim.key, f"{winner_id}|{body_hash}", nx=True, ex=claim.ttl)
