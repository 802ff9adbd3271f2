"""Inbox sign-in and sessions: links asked for and used, sessions in Redis, CSRF tokens.

- **Cookies** (:func:`cookie`, :func:`cookie_name`): HttpOnly, SameSite=Lax, ``Path=/``, no
  ``Domain``; on an https inbox (``FRONTDESK_INBOX_URL``) also ``Secure`` and named with the
  ``__Host-`` prefix, which browsers accept only from a secure origin, for that exact host (no
  sibling subdomain can plant or overwrite them); on http the plain names.
- **Browser id**: a random cookie (:data:`BROWSER_COOKIE`) every inbox page sets when missing. A
  sign-in link is bound to the browser that asked (its record keeps the SHA-256 of this cookie)
  and the CSRF token is derived from it. Signing in gives the browser a new one.
- **Sign-in link** (:func:`ask_for_link`, :func:`use_link`): a known and an unknown address take
  the same path — a record and a queued job — and get the same page; the worker mails only known
  ones. A link is refused when forged, expired (the state's clock), asked by another browser or
  already used (the record is deleted by the one request that uses it).
- **Pending sign-in** (:func:`open_pending`, :func:`pending_of`): a link used by an account with
  two-step sign-in on (or required by ``:totp`` and not yet enrolled) gives no session but a
  random cookie (:data:`PENDING_COOKIE`) bound to the browser, good for :data:`PENDING_TTL`
  seconds, until a right code opens the session (services/inbox/accounts.py).
- **Session** (:func:`open_session`, :func:`current_member`): a random cookie
  (:data:`SESSION_COOKIE`), always a new id at sign-in (a session id planted before is ended, not
  kept: no fixation); Redis keeps the record under the cookie's SHA-256 with the address,
  when it was opened and last used. It ends after ``FRONTDESK_INBOX_SESSION_IDLE`` seconds unused,
  ``FRONTDESK_INBOX_SESSION_ABSOLUTE`` seconds after sign-in, at sign-out, at sign-out
  everywhere (every session of the address), and at the first request after the address left
  ``FRONTDESK_STAFF``, or at the first request after two-step sign-in was required (``:totp``) of
  an account without it.
- **CSRF**: every state change carries :func:`csrf_token` (HMAC under the ``csrf`` key of the
  browser id and the session id, if any) in the ``_csrf`` form field or the ``X-CSRF-Token``
  header. A token learned before sign-in is worthless after it: both ids are new.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import math
import secrets
from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import Cookie

from frontdesk.signin_links import LINK_TTL, LinkRecord, hash_text, link_mac
from frontdesk.staff_accounts import StaffMember
from frontdesk.submissions.keys import (
    QUEUES_KEY,
    job_key,
    pending_sign_in_key,
    session_key,
    sign_in_job_id,
    sign_in_link_key,
    staff_sessions_key,
)
from frontdesk.submissions.ratelimit import Limit
from services.inbox.state import InboxState
from services.inbox.twostep import TwoStep

BROWSER_COOKIE = "frontdesk_browser"
SESSION_COOKIE = "frontdesk_session"
PENDING_COOKIE = "frontdesk_pending"
HOST_PREFIX = "__Host-"
PENDING_TTL = 5 * 60
"""Seconds a pending sign-in waits for its two-step code."""
SIGN_IN_JOB = "worker.signin.send_sign_in_link"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"


class PendingRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A sign-in waiting for a two-step code: ``address``, ``browser`` (SHA-256 hex of the browser
    id), ``expires`` (Unix seconds) and ``enrol`` (the account must enrol first: ``:totp``).
    """

    address: str
    browser: str
    expires: float
    enrol: bool


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A session: ``address``, ``opened`` and ``seen`` (Unix seconds)."""

    address: str
    opened: float
    seen: float


def new_browser_id() -> str:
    """A fresh browser id (256 random bits)."""
    return secrets.token_urlsafe(32)


def cookie_name(state: InboxState, name: str) -> str:
    """The name cookie ``name`` has on this inbox: ``__Host-`` + ``name`` on https, else ``name``."""
    return HOST_PREFIX + name if state.secure else name


def cookie_of(state: InboxState, request: Request[Any, Any, Any], name: str) -> str | None:
    """The value of the request's cookie ``name`` (by its name on this inbox), else ``None``."""
    return request.cookies.get(cookie_name(state, name)) or None


def cookie(state: InboxState, name: str, value: str, max_age: int | None = None) -> Cookie:
    """Inbox cookie ``name`` (its name on this inbox, :func:`cookie_name`): HttpOnly, SameSite=Lax,
    path ``/``, no domain, Secure when the inbox URL is https.
    """
    return Cookie(
        key=cookie_name(state, name),
        value=value,
        path="/",
        httponly=True,
        samesite="lax",
        secure=state.secure,
        max_age=max_age,
    )


def expired(state: InboxState, name: str) -> Cookie:
    """Cookie ``name`` emptied and expired (with the attributes it was set with: a ``__Host-``
    cookie is replaced only by a ``Secure`` one).
    """
    return cookie(state, name, "", max_age=0)


async def csrf_token(state: InboxState, browser_id: str, session_id: str | None = None) -> str:
    """The CSRF token of ``browser_id`` and ``session_id`` (none before sign-in): URL-safe base64
    of HMAC-SHA256 under the ``csrf`` key of both, so a token seen before sign-in does not work
    after it.
    """
    bound = f"{browser_id}\n{session_id or ''}".encode()
    digest = hmac.new(await state.key("csrf"), bound, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def csrf_ok(state: InboxState, request: Request[Any, Any, Any], sent: str | None) -> bool:
    """Whether ``sent`` (the form field, else the header) is the token of the request's browser
    and session.
    """
    browser_id = cookie_of(state, request, BROWSER_COOKIE)
    sent = sent or request.headers.get(CSRF_HEADER)
    if not browser_id or not sent:
        return False
    expected = await csrf_token(state, browser_id, cookie_of(state, request, SESSION_COOKIE))
    return hmac.compare_digest(sent, expected)


def sign_in_limits(state: InboxState, address: str, client: str) -> list[Limit]:
    """The sign-in throttle: per address (hashed: no address in key names) and per client."""
    settings = state.settings
    return [
        Limit(
            f"inbox-sign-in:address:{hash_text(address)}",
            settings.inbox_sign_in_per_address_hour,
            3600,
        ),
        Limit(f"inbox-sign-in:client:{client}", settings.inbox_sign_in_per_client_hour, 3600),
    ]


async def ask_for_link(state: InboxState, address: str, browser_id: str) -> None:
    """Record a link for ``address`` asked by ``browser_id`` and queue its mail job, known
    address or not (same work, same time). Raises ``redis.RedisError`` when Redis fails.
    """
    address = address.strip().lower()
    link_id = secrets.token_urlsafe(16)
    now = state.clock()
    record = LinkRecord(
        address=address,
        known=address in state.staff,
        browser=hash_text(browser_id),
        expires=now + LINK_TTL,
    )
    job_id = sign_in_job_id(link_id)
    job = state.jobs.job(SIGN_IN_JOB, (link_id,), 3600, {}, dt.datetime.now(dt.UTC))
    async with state.redis.pipeline(transaction=True) as pipe:
        pipe.set(sign_in_link_key(link_id), msgspec.json.encode(record), ex=LINK_TTL + 60)
        pipe.sadd(QUEUES_KEY, state.jobs.queue_key)
        pipe.hset(job_key(job_id), mapping=job.mapping())  # type: ignore[arg-type]
        pipe.rpush(state.jobs.queue_key, job_id)
        await pipe.execute()


async def use_link(state: InboxState, token: str, browser_id: str | None) -> str | None:
    """The address a link signs in, consuming it; ``None`` when the token is forged or malformed,
    the link expired, unknown, used, or asked for by another browser (a foreign browser does not
    consume it). Raises ``redis.RedisError`` when Redis fails.
    """
    link_id, dot, mac = token.partition(".")
    if not dot or not link_id or not browser_id:
        return None
    if not hmac.compare_digest(mac, link_mac(await state.key("sign-in-links"), link_id)):
        return None
    raw = await state.redis.get(sign_in_link_key(link_id))
    if raw is None:
        return None
    record = msgspec.json.decode(raw, type=LinkRecord)
    if not record.known or record.expires <= state.clock():
        return None
    if not hmac.compare_digest(record.browser, hash_text(browser_id)):
        return None
    # Only the request whose DEL removed the record signs in: a second use finds nothing.
    if not await state.redis.delete(sign_in_link_key(link_id)):
        return None
    return record.address


def _ttl(state: InboxState, record: SessionRecord) -> int:
    """Seconds the record may live in Redis: until the sooner of its idle and absolute ends."""
    settings = state.settings
    left = (
        min(
            record.seen + settings.inbox_session_idle,
            record.opened + settings.inbox_session_absolute,
        )
        - state.clock()
    )
    return max(1, math.ceil(left))


async def open_pending(state: InboxState, address: str, browser_id: str, enrol: bool) -> str:
    """A pending sign-in of ``address`` in ``browser_id`` (:class:`PendingRecord`); returns the
    cookie value (Redis keeps its SHA-256).
    """
    pending_id = secrets.token_urlsafe(32)
    record = PendingRecord(
        address=address,
        browser=hash_text(browser_id),
        expires=state.clock() + PENDING_TTL,
        enrol=enrol,
    )
    await state.redis.set(
        pending_sign_in_key(hash_text(pending_id)), msgspec.json.encode(record), ex=PENDING_TTL + 60
    )
    return pending_id


async def pending_of(
    state: InboxState, pending_id: str | None, browser_id: str | None
) -> PendingRecord | None:
    """The pending sign-in of the cookie ``pending_id`` in ``browser_id``; ``None`` when unknown,
    expired (the state's clock), from another browser, or its address left ``FRONTDESK_STAFF``.
    """
    if not pending_id or not browser_id:
        return None
    raw = await state.redis.get(pending_sign_in_key(hash_text(pending_id)))
    if raw is None:
        return None
    record = msgspec.json.decode(raw, type=PendingRecord)
    if (
        record.expires <= state.clock()
        or record.address not in state.staff
        or not hmac.compare_digest(record.browser, hash_text(browser_id))
    ):
        return None
    return record


async def end_pending(state: InboxState, pending_id: str) -> bool:
    """End a pending sign-in; whether this request ended it (only one request can)."""
    return bool(await state.redis.delete(pending_sign_in_key(hash_text(pending_id))))


async def open_session(state: InboxState, address: str, replaces: str | None = None) -> str:
    """A new session of ``address``; returns the cookie value (kept nowhere but the cookie).
    ``replaces`` (the session cookie the browser came with, if any) is ended: sign-in never keeps
    a session id it did not make.
    """
    if replaces:
        await end_session(state, replaces)
    session_id = secrets.token_urlsafe(32)
    now = state.clock()
    record = SessionRecord(address=address, opened=now, seen=now)
    digest = hash_text(session_id)
    async with state.redis.pipeline(transaction=True) as pipe:
        pipe.set(session_key(digest), msgspec.json.encode(record), ex=_ttl(state, record))
        pipe.sadd(staff_sessions_key(address), digest)
        pipe.expire(staff_sessions_key(address), math.ceil(state.settings.inbox_session_absolute))
        await pipe.execute()
    return session_id


async def current_member(
    state: InboxState, session_id: str | None, touch: bool = True
) -> StaffMember | None:
    """The staff member of the session ``session_id``, its last use moved to now (unless not
    ``touch``: a page's automatic live update is no use of the inbox, so an unattended open page
    does not keep its session alive); ``None`` (and the session ended) when it is unknown, idle
    too long, too old, or its address is no longer in ``FRONTDESK_STAFF``.
    """
    if not session_id:
        return None
    digest = hash_text(session_id)
    raw = await state.redis.get(session_key(digest))
    if raw is None:
        return None
    record = msgspec.json.decode(raw, type=SessionRecord)
    now = state.clock()
    settings = state.settings
    member = state.staff.get(record.address)
    if (
        member is None
        or now - record.seen > settings.inbox_session_idle
        or now - record.opened > settings.inbox_session_absolute
        or (member.totp and not await TwoStep(state).is_on(member.address))
    ):
        await end_session(state, session_id, record.address)
        return None
    if not touch:
        return member
    touched = SessionRecord(address=record.address, opened=record.opened, seen=now)
    await state.redis.set(
        session_key(digest), msgspec.json.encode(touched), ex=_ttl(state, touched)
    )
    return member


async def end_session(state: InboxState, session_id: str, address: str | None = None) -> None:
    """End one session (sign-out)."""
    digest = hash_text(session_id)
    if address is None:
        raw = await state.redis.get(session_key(digest))
        if raw is not None:
            address = msgspec.json.decode(raw, type=SessionRecord).address
    await state.redis.delete(session_key(digest))
    if address is not None:
        await state.redis.srem(staff_sessions_key(address), digest)


async def end_every_session(state: InboxState, address: str) -> int:
    """End every session of ``address`` (sign-out everywhere); returns how many there were."""
    digests = await state.redis.smembers(staff_sessions_key(address))
    keys = [session_key(d.decode() if isinstance(d, bytes) else d) for d in digests]
    ended = int(await state.redis.delete(*keys)) if keys else 0
    await state.redis.delete(staff_sessions_key(address))
    return ended
