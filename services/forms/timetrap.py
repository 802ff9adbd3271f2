"""The time trap: an HMAC-signed issue time handed out with the public form definition.

A token is ``<issued ms, base 36>.<signature>``; the signature is HMAC-SHA256 (RFC 2104) over
``<form id>:<issued ms>`` with the deployment's secret key, truncated to 128 bits and base64url
encoded. A submission whose token is younger than the form's minimum fill time, or whose signature
does not match, is quarantined; a missing token only flags ``no_token``. A token lives
:data:`TOKEN_LIFETIME` (a form's ``spam.token_lifetime_hours``): an older one is ``expired`` and
counts as missing, so a scraped token cannot be replayed for ever and a person who left the tab
open is still heard.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import time
from typing import Literal

import redis

from services.forms.record import KEY_PREFIX

SECRET_KEY = f"{KEY_PREFIX}secret_key"
TokenVerdict = Literal["ok", "too_young", "expired", "forged"]
# A day: a page left open overnight still posts with a token.
TOKEN_LIFETIME = 24 * 3600.0


def shared_secret(connection: redis.Redis, configured: str | None) -> bytes:
    """``FRONTDESK_SECRET_KEY`` when set; else one random key kept in Redis with ``SET NX``, so
    every replica signs with the same key. Raises ``redis.RedisError`` when Redis fails.
    """
    if configured:
        return configured.encode()
    connection.set(SECRET_KEY, secrets.token_hex(32).encode(), nx=True)
    stored = connection.get(SECRET_KEY)
    if stored is None:  # pragma: no cover - deleted between SET and GET
        raise redis.RedisError("the shared secret key vanished")
    return stored if isinstance(stored, bytes) else stored.encode()


@functools.lru_cache(maxsize=8)
def _keyed(secret: bytes) -> hmac.HMAC:
    """HMAC-SHA256 keyed with ``secret``, before any message. Each signature copies it, so the
    key's inner and outer pads are hashed once per secret rather than once per token (measured:
    2.7 µs a signature instead of 6.5).
    """
    return hmac.new(secret, digestmod=hashlib.sha256)


def _signature(secret: bytes, form_id: str, issued_ms: int) -> str:
    mac = _keyed(secret).copy()
    mac.update(f"{form_id}:{issued_ms}".encode())
    return base64.urlsafe_b64encode(mac.digest()[:16]).rstrip(b"=").decode()


def issue_token(secret: bytes, form_id: str, issued_at: float | None = None) -> str:
    """A token for ``form_id`` issued at ``issued_at`` (Unix seconds, default now)."""
    issued_ms = int((time.time() if issued_at is None else issued_at) * 1000)
    return f"{_base36(issued_ms)}.{_signature(secret, form_id, issued_ms)}"


def check_token(
    secret: bytes,
    form_id: str,
    token: str,
    min_fill_seconds: float,
    now: float | None = None,
    lifetime: float = TOKEN_LIFETIME,
) -> TokenVerdict:
    """``ok``, ``too_young`` (issued less than ``min_fill_seconds`` ago, or in the future),
    ``expired`` (issued more than ``lifetime`` seconds ago) or ``forged`` (malformed, for another
    form, or signed with another key). Times are Unix seconds.
    """
    issued_text, sep, signature = token.partition(".")
    # Checked first: hmac.compare_digest raises TypeError on non-ASCII text (a visitor's 500), and
    # int() would read non-ASCII digits, which no issued token has.
    if not sep or len(token) > 64 or not token.isascii():
        return "forged"
    try:
        issued_ms = int(issued_text, 36)
    except ValueError:
        return "forged"
    if not hmac.compare_digest(signature, _signature(secret, form_id, issued_ms)):
        return "forged"
    age = (time.time() if now is None else now) - issued_ms / 1000
    if age > lifetime:
        return "expired"
    return "too_young" if age < min_fill_seconds else "ok"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text
