"""Precomputed response bodies: each encoded once per build, with a strong ETag per encoding."""

from __future__ import annotations

import gzip
import hashlib

import msgspec

_encoder = msgspec.json.Encoder()


class Body(msgspec.Struct, frozen=True):
    """A JSON body in identity and gzip encodings, each with its strong ETag (RFC 9110 §8.8.3)."""

    identity: bytes
    etag: str
    gzipped: bytes
    gzip_etag: str

    @classmethod
    def of(cls, value: object) -> Body:
        """Encode ``value`` (any msgspec-encodable object) as JSON and gzip it once."""
        data = _encoder.encode(value)
        digest = hashlib.blake2b(data, digest_size=12).hexdigest()
        # mtime=0 keeps the gzip bytes, and so their ETag, stable across builds.
        return cls(data, f'"{digest}"', gzip.compress(data, 6, mtime=0), f'"{digest}-gz"')

    def select(self, accept_encoding: str | None) -> tuple[bytes, str, bool]:
        """``(bytes, etag, is_gzip)`` for a request's ``Accept-Encoding`` header."""
        if accept_encoding and _accepts_gzip(accept_encoding):
            return self.gzipped, self.gzip_etag, True
        return self.identity, self.etag, False


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and float(q[2:] or 0) == 0)
    return False


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2 weak comparison of ``If-None-Match`` (a list, or ``*``) against ``etag``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))
