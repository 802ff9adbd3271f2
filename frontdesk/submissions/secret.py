"""The deployment's one master key and the keys derived from it, one per purpose.

The master key is ``FRONTDESK_SECRET_KEY`` (at least 32 characters, checked by the settings) or,
unset, 32 random bytes (hex) generated once and kept in Redis at
:data:`~frontdesk.submissions.keys.MASTER_KEY` with ``SET NX``, so every replica and the worker
share it. Nothing signs with the master key itself: each use gets its own key, HKDF-SHA256 (RFC
5869) with an empty salt and the info ``frontdesk/v1/<purpose>``, 32 bytes. Knowing one derived key
(a webhook receiver knows the webhook key) tells nothing about another (HMAC-SHA256 is a PRF), so a
webhook receiver cannot mint time-trap tokens.

Purposes (:data:`Purpose`): ``time-trap``, ``webhooks``, ``captcha-challenges`` (the ALTCHA
challenges' HMAC key), ``build-hooks`` (the build hooks' signature, worker/buildhooks.py), and for
the staff inbox ``sign-in-links`` (a link's secret half, :mod:`frontdesk.signin_links`), ``csrf``
(a browser's form token, services/inbox/sessions.py) and ``totp`` (encrypts the two-step sign-in
secrets kept in Redis, services/inbox/twostep.py); ``sessions`` (inbox sessions are random ids
kept hashed, nothing signed yet) is reserved for the feature that will sign with it. A new purpose
is a new label here, never a reuse of another's key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Literal, get_args

import redis

from frontdesk.submissions.keys import DERIVED_SINCE, MASTER_KEY

Purpose = Literal[
    "time-trap",
    "webhooks",
    "sign-in-links",
    "sessions",
    "csrf",
    "captcha-challenges",
    "build-hooks",
    "totp",
]
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)

_INFO_PREFIX = b"frontdesk/v1/"
_LENGTH = 32  # bytes: one SHA-256 block of HKDF-Expand


def master_key(connection: redis.Redis, configured: str | None) -> bytes:
    """``configured`` (``FRONTDESK_SECRET_KEY``) when set; else the generated key in Redis, made
    now if missing. Raises ``redis.RedisError`` when Redis fails.
    """
    if configured:
        return configured.encode()
    connection.set(MASTER_KEY, secrets.token_hex(32).encode(), nx=True)
    stored = connection.get(MASTER_KEY)
    if stored is None:  # pragma: no cover - deleted between SET and GET
        raise redis.RedisError("the master key vanished")
    return stored if isinstance(stored, bytes) else str(stored).encode()


def derive(master: bytes, purpose: Purpose) -> bytes:
    """HKDF-SHA256 (RFC 5869 §2.2 extract with an all-zero salt, §2.3 expand to 32 bytes) of
    ``master`` for ``purpose``.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r}")
    return hkdf_sha256(master, _INFO_PREFIX + purpose.encode())


def hkdf_sha256(ikm: bytes, info: bytes) -> bytes:
    """32 bytes of HKDF-SHA256 (RFC 5869) with an empty salt: ``PRK = HMAC(0^32, ikm)``, then
    ``T(1) = HMAC(PRK, info || 0x01)``.
    """
    prk = hmac.new(bytes(hashlib.sha256().digest_size), ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:_LENGTH]


def key_for(connection: redis.Redis, configured: str | None, purpose: Purpose) -> bytes:
    """The key of ``purpose``: :func:`derive` of :func:`master_key`."""
    return derive(master_key(connection, configured), purpose)


def derived_since(connection: redis.Redis) -> float:
    """When this deployment first derived keys, in Unix seconds (recorded now if never)."""
    connection.set(DERIVED_SINCE, str(int(time.time() * 1000)), nx=True)
    raw = connection.get(DERIVED_SINCE)
    return int(raw or 0) / 1000
