"""Inbox sign-in and sessions: links asked for and used, sessions in Redis, CSRF tokens.

- **Browser id**: a random cookie (:data:`BROWSER_COOKIE`, HttpOnly, SameSite=Lax) every inbox
  page sets when missing. A sign-in link is bound to the browser that asked (its record keeps the
  SHA-256 of this cookie) and the CSRF token is derived from it.
- **Sign-in link** (:func:`ask_for_link`, :func:`use_link`): a known and an unknown address take
  the same path — a record and a queued job — and get the same page; the worker mails only known
  ones. A link is refused when forged, expired (the state's clock), asked by another browser or
  already used (the record is deleted by the one request that uses it).
- **Session** (:func:`open_session`, :func:`current_member`): a random cookie
  (:data:`SESSION_COOKIE`); Redis keeps the record under the cookie's SHA-256 with the address,
  when it was opened and last used. It ends after ``FRONTDESK_INBOX_SESSION_IDLE`` seconds unused,
  ``FRONTDESK_INBOX_SESSION_ABSOLUTE`` seconds after sign-in, at sign-out, at sign-out
  everywhere (every session of the address), and at the first request after the address left
  ``FRONTDESK_STAFF``.
- **CSRF**: every state change carries :func:`csrf_token` (HMAC of the browser id under the
  ``csrf`` key) in the ``_csrf`` form field or the ``X-CSRF-Token`` header.
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
    session_key,
    sign_in_job_id,
    sign_in_link_key,
    staff_sessions_key,
)
from frontdesk.submissions.ratelimit import Limit
from services.inbox.state import InboxState

BROWSER_COOKIE = "frontdesk_browser"
SESSION_COOKIE = "frontdesk_session"
SIGN_IN_JOB = "worker.signin.send_sign_in_link"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A session: ``address``, ``opened`` and ``seen`` (Unix seconds)."""

    address: str
    opened: float
    seen: float


def new_browser_id() -> str:
    """A fresh browser id (256 random bits)."""
    return secrets.token_urlsafe(32)


def cookie(state: InboxState, name: str, value: str, max_age: int | None = None) -> Cookie:
    """An inbox cookie: HttpOnly, SameSite=Lax, path ``/``, Secure when the inbox URL is https."""
    return Cookie(
        key=name,
        value=value,
        path="/",
        httponly=True,
        samesite="lax",
        secure=state.secure,
        max_age=max_age,
    )


async def csrf_token(state: InboxState, browser_id: str) -> str:
    """The CSRF token of ``browser_id``: URL-safe base64 of HMAC-SHA256 under the ``csrf`` key."""
    digest = hmac.new(await state.key("csrf"), browser_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def csrf_ok(state: InboxState, request: Request[Any, Any, Any], sent: str | None) -> bool:
    """Whether ``sent`` (the form field, else the header) is the token of the request's browser."""
    browser_id = request.cookies.get(BROWSER_COOKIE)
    sent = sent or request.headers.get(CSRF_HEADER)
    if not browser_id or not sent:
        return False
    return hmac.compare_digest(sent, await csrf_token(state, browser_id))


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


async def open_session(state: InboxState, address: str) -> str:
    """A new session of ``address``; returns the cookie value (kept nowhere but the cookie)."""
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
