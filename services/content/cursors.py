"""Opaque paging cursors of ``GET /v1/collections/{name}/items``.

A cursor is base64url (RFC 4648 §5, unpadded) of ``{"o": offset, "t": tag}``. Clients must treat it
as opaque; it is bound to the ``tag`` it was issued for, so reusing it with another filter is an
error rather than a silently wrong page.
"""

from __future__ import annotations

import base64
import binascii

import msgspec


class _Cursor(msgspec.Struct, forbid_unknown_fields=True):
    o: int
    t: str | None = None


class CursorError(ValueError):
    """The cursor is not one this service issued for this query."""


def encode_cursor(offset: int, tag: str | None) -> str:
    """The cursor of the page starting at ``offset`` (0-based) for filter ``tag``."""
    raw = msgspec.json.encode(_Cursor(offset, tag))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, tag: str | None) -> int:
    """The offset of ``cursor``; raises :class:`CursorError` when it is malformed, negative or was
    issued for another ``tag``.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = msgspec.json.decode(raw, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise CursorError("not a cursor of this API") from exc
    if value.o < 0:
        raise CursorError("not a cursor of this API")
    if value.t != tag:
        raise CursorError("the cursor belongs to another tag filter")
    return value.o
