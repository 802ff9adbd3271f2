"""Two-step sign-in (TOTP, RFC 6238) of inbox accounts: enrolment, codes, replay, reset.

An account's state is one Redis hash (:func:`~frontdesk.submissions.keys.totp_key`): ``secret``
(sealed: see below), ``on`` (``0`` while enrolling, ``1`` once a code confirmed it) and ``step``
(the last 30-second time step a code was accepted for). A code is six digits of the current step
or the one before or after (clock drift); it is accepted only for a step later than ``step``, and
the check and the update are one Lua script, so a code (or an older one) works once even when two
requests race.

The secret is never logged and never stored in the clear: :func:`seal` encrypts it with keys
derived from the ``totp`` purpose key (frontdesk/submissions/secret.py): a keystream of
HMAC-SHA256(encryption key, nonce ‖ counter) blocks XORed with it, then HMAC-SHA256(MAC key,
nonce ‖ ciphertext) appended (encrypt-then-MAC; a 16-byte random nonce per seal). With
``FRONTDESK_SECRET_KEY`` set, a copy of Redis alone (a backup) does not reveal the secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
from urllib.parse import urlsplit

import pyotp
import redis.asyncio
import segno

from frontdesk.signin_links import hash_text
from frontdesk.submissions.keys import totp_key
from frontdesk.submissions.ratelimit import Limit
from frontdesk.submissions.secret import hkdf_sha256
from services.inbox.state import InboxState

STEP = 30
"""Seconds of a time step (RFC 6238's default, what authenticator apps use)."""
DRIFT = 1
"""Steps either side of now a code may be for."""
FAILURE_WINDOW = 15 * 60
"""Seconds of the wrong-code throttle's window (``FRONTDESK_INBOX_TOTP_FAILURES`` per window)."""
_NONCE = 16
_TAG = 32

# KEYS[1]: the account's hash. ARGV: the step of the code, the sealed secret it was checked
# against. Accepts (1) only when the secret is still that one and the step is later than the last.
_ACCEPT = """
if redis.call('HGET', KEYS[1], 'secret') ~= ARGV[2] then return 0 end
local last = tonumber(redis.call('HGET', KEYS[1], 'step') or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('HSET', KEYS[1], 'step', ARGV[1])
return 1
"""


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    """``length`` bytes of HMAC-SHA256(``key``, nonce ‖ 4-byte block counter) blocks."""
    blocks = (length + 31) // 32
    return b"".join(
        hmac.new(key, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest() for i in range(blocks)
    )[:length]


def seal(key: bytes, plain: bytes) -> bytes:
    """``plain`` encrypted and authenticated under ``key``: nonce ‖ ciphertext ‖ tag."""
    nonce = secrets.token_bytes(_NONCE)
    stream = _keystream(hkdf_sha256(key, b"encrypt"), nonce, len(plain))
    cipher = bytes(a ^ b for a, b in zip(plain, stream, strict=True))
    tag = hmac.new(hkdf_sha256(key, b"authenticate"), nonce + cipher, hashlib.sha256).digest()
    return nonce + cipher + tag


def unseal(key: bytes, sealed: bytes) -> bytes:
    """What :func:`seal` sealed; raises ``ValueError`` when ``sealed`` was altered or sealed under
    another key.
    """
    nonce, cipher, tag = sealed[:_NONCE], sealed[_NONCE:-_TAG], sealed[-_TAG:]
    want = hmac.new(hkdf_sha256(key, b"authenticate"), nonce + cipher, hashlib.sha256).digest()
    if len(sealed) < _NONCE + _TAG or not hmac.compare_digest(tag, want):
        raise ValueError("the sealed secret does not verify")
    stream = _keystream(hkdf_sha256(key, b"encrypt"), nonce, len(cipher))
    return bytes(a ^ b for a, b in zip(cipher, stream, strict=True))


def grouped(secret: str) -> str:
    """The base32 secret in groups of four, as people type it."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def otpauth_uri(state: InboxState, address: str, secret: str) -> str:
    """The ``otpauth://totp/…`` URI an authenticator app reads: issuer "Frontdesk" and the inbox's
    host, account ``address``, 6 digits every 30 seconds (SHA-1, what every app supports).
    """
    host = urlsplit(state.settings.inbox_url).hostname or "inbox"
    return pyotp.TOTP(secret).provisioning_uri(name=address, issuer_name=f"Frontdesk {host}")


def qr_svg(uri: str) -> bytes:
    """The QR code of ``uri`` as an SVG document (segno: no script, no style, only paths), for an
    ``<img>`` of the inbox's own origin under its CSP.
    """
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, border=4, xmldecl=False)
    return out.getvalue()


def failure_limit(state: InboxState, address: str) -> Limit:
    """The wrong-code throttle of ``address`` (hashed: no address in the key's name)."""
    return Limit(
        f"inbox-totp:address:{hash_text(address)}",
        state.settings.inbox_totp_failures,
        FAILURE_WINDOW,
    )


class TwoStep:
    """The two-step state of the accounts, over the inbox's Redis; every method raises
    ``redis.RedisError`` when Redis fails.
    """

    def __init__(self, state: InboxState) -> None:
        self.state = state
        self.redis: redis.asyncio.Redis = state.redis
        self.accept_script = state.redis.register_script(_ACCEPT)

    async def is_on(self, address: str) -> bool:
        """Whether ``address`` has two-step sign-in on (enrolled and confirmed)."""
        return bool(await self.redis.hget(totp_key(address), "on") == b"1")

    async def accounts_on(self, addresses: list[str]) -> dict[str, bool]:
        """:meth:`is_on` of each of ``addresses`` in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for address in addresses:
                pipe.hget(totp_key(address), "on")
            found = await pipe.execute()
        return {a: v == b"1" for a, v in zip(addresses, found, strict=True)}

    async def start(self, address: str) -> str | None:
        """A new secret (base32, 160 bits) for ``address`` to confirm, replacing one not yet
        confirmed; ``None`` when two-step sign-in is already on.
        """
        if await self.is_on(address):
            return None
        secret = pyotp.random_base32()
        sealed = seal(await self.state.key("totp"), secret.encode())
        await self.redis.hset(totp_key(address), mapping={"secret": sealed, "on": "0", "step": -1})
        return secret

    async def enrolling(self, address: str) -> str | None:
        """The secret ``address`` is enrolling with (not yet confirmed), else ``None``."""
        sealed, on = await self.redis.hmget(totp_key(address), ["secret", "on"])
        if not isinstance(sealed, bytes) or on != b"0":
            return None
        return unseal(await self.state.key("totp"), sealed).decode()

    async def accept(self, address: str, code: str, on: bool) -> bool:
        """Whether ``code`` is a right code of ``address``'s secret (confirmed when ``on``, else
        the one being enrolled) for a time step not used before; that step is then used up.
        """
        code = code.strip().replace(" ", "")
        if len(code) != 6 or not code.isascii() or not code.isdigit():
            return False
        sealed, state = await self.redis.hmget(totp_key(address), ["secret", "on"])
        if not isinstance(sealed, bytes) or state != (b"1" if on else b"0"):
            return False
        totp = pyotp.TOTP(unseal(await self.state.key("totp"), sealed).decode())
        now = int(self.state.clock() // STEP)
        # Latest first: a code right for two steps (it happens) uses up the later one.
        for step in range(now + DRIFT, now - DRIFT - 1, -1):
            if hmac.compare_digest(totp.generate_otp(step), code):
                return bool(await self.accept_script(keys=[totp_key(address)], args=[step, sealed]))
        return False

    async def turn_on(self, address: str, code: str) -> bool:
        """Confirm the enrolment with ``code``; whether two-step sign-in is now on."""
        if not await self.accept(address, code, on=False):
            return False
        await self.redis.hset(totp_key(address), "on", "1")
        return True

    async def turn_off(self, address: str, code: str) -> bool:
        """Turn two-step sign-in off with a right ``code``; whether it was turned off."""
        if not await self.accept(address, code, on=True):
            return False
        await self.redis.delete(totp_key(address))
        return True

    async def reset(self, address: str) -> bool:
        """Forget ``address``'s two-step state (an admin's reset); whether there was one."""
        return bool(await self.redis.delete(totp_key(address)))
