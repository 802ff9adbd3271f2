"""One-time sign-in links of the staff inbox: what the inbox and the worker share.

A link is ``<FRONTDESK_INBOX_URL>/sign-in/link?token=<link id>.<mac>``. The link id is random and
names the Redis record (:func:`~frontdesk.submissions.keys.sign_in_link_key`: address, the SHA-256
of the asking browser's cookie, expiry); the mac is HMAC-SHA256 of the id under the
``sign-in-links`` purpose key. The mac is the secret: it is computed by the worker when it writes
the mail and by the inbox when the link comes back, and stored nowhere: not in the record, not in
the job (whose only argument is the link id), not in any log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import msgspec

LINK_TTL = 15 * 60
"""Seconds a sign-in link can be used."""


class LinkRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A link asked for: ``address`` (lower case), ``known`` (listed in ``FRONTDESK_STAFF``; an
    unknown address gets the same answer and a record, but no mail), ``browser`` (SHA-256 hex of
    the asking browser's cookie) and ``expires`` (Unix seconds).
    """

    address: str
    known: bool
    browser: str
    expires: float


def link_mac(key: bytes, link_id: str) -> str:
    """The secret half of a link: URL-safe base64 (no padding) of HMAC-SHA256(``key``, id)."""
    digest = hmac.new(key, link_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def link_url(inbox_url: str, link_id: str, mac: str) -> str:
    """The link a staff member opens: always on ``FRONTDESK_INBOX_URL``, never a request's host."""
    return f"{inbox_url.rstrip('/')}/sign-in/link?token={link_id}.{mac}"


def hash_text(value: str) -> str:
    """SHA-256 hex of ``value``: what Redis keeps of a cookie."""
    return hashlib.sha256(value.encode()).hexdigest()
