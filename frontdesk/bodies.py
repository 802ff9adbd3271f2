"""Precomputed response bodies: each encoded once, with a strong ETag per encoding, and the
conditional GET answer of one (RFC 9110 §13): the content service's bodies and the forms service's
embed script.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import gzip
import hashlib

import msgspec

from frontdesk.negotiation import weighted

_encoder = msgspec.json.Encoder()
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Body(msgspec.Struct, frozen=True):
    """A body in identity and gzip encodings, each with its strong ETag (RFC 9110 §8.8.3).

    ``gzipped`` is ``None`` for bodies that do not shrink (images): those are always sent as is.
    ``last_modified`` is an HTTP-date (RFC 9110 §5.6.7), ``modified`` the same instant as a datetime.
    """

    identity: bytes
    etag: str
    gzipped: bytes | None
    gzip_etag: str
    media_type: str = "application/json"
    modified: dt.datetime = EPOCH
    last_modified: str = "Thu, 01 Jan 1970 00:00:00 GMT"

    @classmethod
    def of(cls, value: object, modified: dt.datetime = EPOCH) -> Body:
        """Encode ``value`` (any msgspec-encodable object) as JSON and gzip it once."""
        return cls.raw(_encoder.encode(value), "application/json", modified)

    @classmethod
    def raw(
        cls, data: bytes, media_type: str, modified: dt.datetime = EPOCH, compress: bool = True
    ) -> Body:
        """A body of ready bytes; ``compress=False`` skips gzip (already compressed formats)."""
        digest = hashlib.blake2b(data, digest_size=12).hexdigest()
        # mtime=0 keeps the gzip bytes, and so their ETag, stable across builds.
        gzipped = gzip.compress(data, 6, mtime=0) if compress else None
        modified = modified.astimezone(dt.UTC).replace(microsecond=0)
        return cls(
            data,
            f'"{digest}"',
            gzipped,
            f'"{digest}-gz"',
            media_type,
            modified,
            email.utils.format_datetime(modified, usegmt=True),
        )

    def with_modified(self, modified: dt.datetime) -> Body:
        """The same bytes and ETags with ``modified`` (whole seconds, UTC) as the change time."""
        modified = modified.astimezone(dt.UTC).replace(microsecond=0)
        return msgspec.structs.replace(
            self,
            modified=modified,
            last_modified=email.utils.format_datetime(modified, usegmt=True),
        )

    def select(self, accept_encoding: str | None) -> tuple[bytes, str, bool]:
        """``(bytes, etag, is_gzip)`` for a request's ``Accept-Encoding`` header."""
        if self.gzipped is not None and accept_encoding and _accepts_gzip(accept_encoding):
            return self.gzipped, self.gzip_etag, True
        return self.identity, self.etag, False


Headers = list[tuple[bytes, bytes]]


def conditional_answer(
    body: Body,
    accept_encoding: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    cache_control: bytes,
    vary: bytes,
) -> tuple[int, Headers, bytes]:
    """``(status, headers, bytes)`` answering a GET of ``body``: 200 with the body in the client's
    encoding, or 304 with no body when its validators match (RFC 9110 §13.1.2: ``If-None-Match``
    wins over ``If-Modified-Since``). Headers are raw ASGI pairs, a fresh list per call.
    """
    data, etag, gzipped = body.select(accept_encoding)
    headers = [
        (b"etag", etag.encode()),
        (b"cache-control", cache_control),
        (b"vary", vary),
        (b"last-modified", body.last_modified.encode()),
    ]
    if (if_none_match is not None and etag_matches(if_none_match, etag)) or (
        if_none_match is None and not_modified_since(if_modified_since, body.modified)
    ):
        return 304, headers, b""
    headers.append((b"content-type", body.media_type.encode()))
    headers.append((b"content-length", str(len(data)).encode()))
    if gzipped:
        headers.append((b"content-encoding", b"gzip"))
    return 200, headers, data


def _accepts_gzip(header: str) -> bool:
    """RFC 9110 §12.5.3: whether ``gzip`` is acceptable — its own quality when it is listed (a
    listed name wins over ``*``), else that of ``*``; ``q=0`` refuses.
    """
    star: float | None = None
    for name, quality, _ in weighted(header):
        if name == "gzip":
            return quality > 0
        if name == "*":
            star = quality
    return star is not None and star > 0


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2 weak comparison of ``If-None-Match`` (a list, or ``*``) against ``etag``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def not_modified_since(if_modified_since: str | None, modified: dt.datetime) -> bool:
    """RFC 9110 §13.1.3: true when ``modified`` is not later than the header's HTTP-date.

    An unparseable date is ignored (the condition is false), as the RFC asks.
    """
    if not if_modified_since:
        return False
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return modified <= since
