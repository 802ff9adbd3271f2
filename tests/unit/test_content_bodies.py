"""Precomputed bodies: encodings, ETags and conditional-request comparisons (RFC 9110)."""

from __future__ import annotations

import datetime as dt
import gzip

import pytest

from frontdesk.bodies import Body, etag_matches, not_modified_since
from frontdesk.cursors import CursorError, decode_cursor, encode_cursor

WHEN = dt.datetime(2026, 11, 1, 10, 30, 15, 123456, tzinfo=dt.UTC)


def test_body_has_stable_distinct_etags_per_encoding() -> None:
    body = Body.of({"a": 1}, WHEN)
    again = Body.of({"a": 1}, WHEN)
    assert (body.etag, body.gzip_etag) == (again.etag, again.gzip_etag)
    assert body.gzipped == again.gzipped  # gzip mtime=0: same bytes every build
    assert body.etag != body.gzip_etag
    assert body.gzipped is not None
    assert gzip.decompress(body.gzipped) == body.identity == b'{"a":1}'
    assert body.last_modified == "Sun, 01 Nov 2026 10:30:15 GMT"
    assert Body.of({"a": 2}).etag != body.etag


@pytest.mark.parametrize(
    ("header", "gzipped"),
    [
        (None, False),
        ("", False),
        ("identity", False),
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0", False),
        ("*", True),
        ("gzip;q=nonsense", False),
        ("deflate, br", False),
        # From a trial: a listed gzip wins over *, and parameter names are case-insensitive.
        ("*;q=0, gzip", True),
        ("gzip;q=0, *", False),
        ("gzip;Q=0", False),
        ("GZIP; q=1", True),
        ("*;q=0", False),
        ("br;q=1, *;q=0.1", True),
    ],
)
def test_accept_encoding_selects_gzip(header: str | None, gzipped: bool) -> None:
    body = Body.of({"a": 1})
    data, etag, is_gzip = body.select(header)
    assert is_gzip is gzipped
    assert etag == (body.gzip_etag if gzipped else body.etag)
    assert data == (body.gzipped if gzipped else body.identity)


def test_uncompressed_body_never_selects_gzip() -> None:
    body = Body.raw(b"\xff\xd8", "image/jpeg", compress=False)
    assert body.select("gzip") == (b"\xff\xd8", body.etag, False)


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"abc"', True),
        ('W/"abc"', True),  # weak comparison for If-None-Match (RFC 9110 §13.1.2)
        ('"x", "abc"', True),
        ("*", True),
        ('"abcd"', False),
        ("", False),
        (None, False),
    ],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert etag_matches(header, '"abc"') is matches


def test_if_modified_since() -> None:
    modified = WHEN.replace(microsecond=0)
    assert not_modified_since("Sun, 01 Nov 2026 10:30:15 GMT", modified)
    assert not_modified_since("Mon, 02 Nov 2026 00:00:00 GMT", modified)
    assert not not_modified_since("Sun, 01 Nov 2026 10:30:14 GMT", modified)
    assert not not_modified_since("yesterday", modified)
    assert not not_modified_since(None, modified)


def test_cursor_round_trip_and_binding_to_tag() -> None:
    assert decode_cursor(encode_cursor(40, "knee"), "knee") == 40
    assert decode_cursor(encode_cursor(0, None), None) == 0
    with pytest.raises(CursorError):
        decode_cursor(encode_cursor(40, "knee"), None)
    for bad in ("", "!!!", "e30", encode_cursor(-1, None)):
        with pytest.raises(CursorError):
            decode_cursor(bad, None)
