"""ALTCHA, the CAPTCHA with no third party: proof-of-work challenges issued and checked here.

A challenge (``GET /v1/forms/{form}/captcha/challenge``) is the ``altcha`` package's PoW v2 in its
deterministic mode: PBKDF2-SHA-256 of ``cost`` iterations, a counter drawn uniformly from 0 to the
form's ``max_number``, an expiry ``expires_minutes`` ahead and ``data: {"form": <id>}``, all signed
with HMAC-SHA256 under the ``captcha-challenges`` purpose key (frontdesk/submissions/secret.py). The
widget (the ``altcha`` npm package, vendored in ``vendor/altcha/``) finds the counter and posts the
base64 JSON ``{challenge, solution}`` as the field ``altcha``.

A submission's solution is refused (never quarantined: the widget just solves another) when it is
missing, forged, wrong, for another form or expired (403 ``captcha_failed`` / ``captcha_expired``),
or already spent (409 ``captcha_spent``). Spending is a ``SET NX`` of
:func:`~frontdesk.submissions.keys.captcha_spent_key` that lives until the challenge expires,
holding a hash of the post's ``Idempotency-Key``: a retry of the same post (same key) passes on to
the store, which answers it with the first submission's id.

Nothing leaves Frontdesk: no secret is configured outside it, and no request goes anywhere.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any, Literal

import altcha
import anyio
import msgspec
import redis
import redis.asyncio

from frontdesk.problems import ProblemError
from frontdesk.submissions.definition import Captcha, FormDefinition
from frontdesk.submissions.keys import captcha_spent_key
from frontdesk.submissions.ratelimit import RateLimiter
from services.forms.throttle import limit_per_minute

ALGORITHM = "PBKDF2/SHA-256"
FIELD = "altcha"
"""The posted field holding the widget's payload (the widget's default ``name``)."""
MAX_PAYLOAD = 4096
"""Characters of a payload read at all; the widget's are under 1,000."""

CHALLENGES_PER_MINUTE = 120
"""Challenges a client may fetch a minute (as many as phone checks)."""

Verdict = Literal["passed", "failed", "expired"]


class ChallengeParameters(msgspec.Struct, kw_only=True, rename="camel"):
    """What the browser needs to solve a challenge (camelCase in JSON, as the widget reads them);
    ``expires_at`` in Unix seconds, ``data`` the form's id.
    """

    algorithm: str
    nonce: str
    salt: str
    cost: int
    key_length: int
    key_prefix: str
    expires_at: int
    data: dict[str, str]


class Challenge(msgspec.Struct, kw_only=True):
    """``GET /v1/forms/{form}/captcha/challenge``: signed parameters, for the widget."""

    parameters: ChallengeParameters
    signature: str


def new_challenge(
    key: bytes, form_id: str, captcha: Captcha, now: float | None = None
) -> Challenge:
    """A fresh challenge for ``form_id`` signed with ``key`` (the ``captcha-challenges`` key)."""
    issued = time.time() if now is None else now
    made = altcha.create_challenge(
        ALGORITHM,
        captcha.cost,
        counter=secrets.randbelow(captcha.max_number + 1),
        expires_at=int(issued) + captcha.expires_minutes * 60,
        data={"form": form_id},
        hmac_secret=key,
    )
    return msgspec.convert(made.to_dict(), Challenge)


def check_solution(key: bytes, form_id: str, payload: object) -> tuple[Verdict, str, int]:
    """``(verdict, signature, expires_at)`` of a posted ``payload``: ``passed`` only for a correct
    solution of an unexpired challenge signed with ``key`` for ``form_id``. ``signature`` (the
    challenge's) and ``expires_at`` (Unix seconds) identify it for :func:`spend`. CPU-bound (one
    key derivation of the challenge's cost): run it off the event loop.
    """
    if not isinstance(payload, str) or not payload or len(payload) > MAX_PAYLOAD:
        return "failed", "", 0
    try:
        decoded = altcha.Payload.from_base64(payload)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return "failed", "", 0
    result = altcha.verify_solution(decoded, key)
    if result.expired:
        return "expired", "", 0
    parameters = decoded.challenge.parameters
    expires_at = parameters.expires_at
    if (
        not result.verified
        or parameters.data != {"form": form_id}
        or type(expires_at) is not int
        or not isinstance(decoded.challenge.signature, str)
    ):
        return "failed", "", 0
    return "passed", decoded.challenge.signature, expires_at


async def spend(
    connection: redis.asyncio.Redis,
    form_id: str,
    signature: str,
    expires_at: int,
    idempotency_key: str | None,
) -> bool:
    """Mark the solution of the challenge signed ``signature`` spent until ``expires_at``; ``False``
    when it already was by another post (one without this ``idempotency_key``). Raises
    ``redis.RedisError``.
    """
    key = captcha_spent_key(form_id, hashlib.sha256(signature.encode()).hexdigest()[:32])
    mark = hashlib.sha256(idempotency_key.encode()).hexdigest() if idempotency_key else ""
    # A unique value for a post without a key: no later post can claim to be its retry.
    value = mark or f"-{secrets.token_hex(8)}"
    ttl = max(1, expires_at - int(time.time()) + 1)
    if await connection.set(key, value, nx=True, ex=ttl):
        return True
    if not mark:
        return False
    held = await connection.get(key)
    return (held.decode() if isinstance(held, bytes) else held) == mark


async def require_solution(
    key: bytes,
    connection: redis.asyncio.Redis,
    form: FormDefinition,
    data: dict[str, Any],
    idempotency_key: str | None,
) -> None:
    """Refuse the post unless its ``altcha`` field is a good, unspent solution for ``form``; then
    spend it. Raises ProblemError (403 ``captcha_failed`` or ``captcha_expired``, 409
    ``captcha_spent``, 503 ``store_unavailable`` when Redis fails).
    """
    verdict, signature, expires_at = await anyio.to_thread.run_sync(
        check_solution, key, form.id, data.get(FIELD)
    )
    if verdict == "expired":
        raise ProblemError(
            403, "captcha_expired", "The CAPTCHA challenge has expired; solve a new one."
        )
    if verdict != "passed":
        raise ProblemError(403, "captcha_failed", "The CAPTCHA was not solved.")
    try:
        fresh = await spend(connection, form.id, signature, expires_at, idempotency_key)
    except redis.RedisError:
        raise ProblemError(
            503,
            "store_unavailable",
            "The submission could not be stored; nothing was kept. Try again shortly.",
            headers={"Retry-After": "5"},
        ) from None
    if not fresh:
        raise ProblemError(
            409, "captcha_spent", "This CAPTCHA solution was already used; solve a new one."
        )


async def limit_challenges(limiter: RateLimiter, enabled: bool, bucket: str) -> None:
    """:data:`CHALLENGES_PER_MINUTE` per client ``bucket`` (``web.client_bucket``); past them 429
    ``rate_limited`` with ``Retry-After``. ``enabled`` is ``FRONTDESK_RATE_LIMITS``. When Redis does
    not answer, the challenge is still issued: issuing needs no storage.
    """
    await limit_per_minute(
        limiter, enabled, f"captcha:{bucket}", CHALLENGES_PER_MINUTE, "challenges"
    )
