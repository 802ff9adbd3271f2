"""Opaque paging cursors: the one codec of every paged list the services answer.

A cursor is base64url (RFC 4648 §5, unpadded) of a small text; clients must treat it as opaque.
Two kinds are given out:

- **offset cursors** (``GET /v1/collections/{name}/items``): the text is ``{"o": offset, "t":
  tag}`` (JSON). A cursor is bound to the ``tag`` it was issued for, so reusing it with another
  filter is an error rather than a silently wrong page.
- **position cursors** (the staff list of a form's submissions, newest first): the text is
  ``<score>:<submission id>`` (the score a Python ``repr`` of the float, creation time in ms), the
  last item of the page; the next page starts strictly below that position.

Every malformed cursor raises :class:`CursorError`; each service answers it with its own problem.
"""

from __future__ import annotations

import base64
import binascii

import msgspec


class CursorError(ValueError):
    """The cursor is not one this service issued for this query."""


def _pack(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unpack(cursor: str) -> bytes:
    """The bytes of ``cursor``; raises :class:`CursorError` when it is not base64url."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:  # ValueError: a non-ASCII character
        raise CursorError("not a cursor of this API") from exc


class _Cursor(msgspec.Struct, forbid_unknown_fields=True):
    o: int
    t: str | None = None


def encode_cursor(offset: int, tag: str | None) -> str:
    """The offset cursor of the page starting at ``offset`` (0-based) for filter ``tag``."""
    return _pack(msgspec.json.encode(_Cursor(offset, tag)))


def decode_cursor(cursor: str, tag: str | None) -> int:
    """The offset of an offset cursor; raises :class:`CursorError` when it is malformed, negative
    or was issued for another ``tag``.
    """
    try:
        value = msgspec.json.decode(_unpack(cursor), type=_Cursor)
    except (ValueError, msgspec.DecodeError) as exc:
        raise CursorError("not a cursor of this API") from exc
    if value.o < 0:
        raise CursorError("not a cursor of this API")
    if value.t != tag:
        raise CursorError("the cursor belongs to another tag filter")
    return value.o


def encode_position(score: float, item_id: str) -> str:
    """The position cursor after the item ``item_id`` of sort score ``score``."""
    return _pack(f"{score!r}:{item_id}".encode())


def decode_position(cursor: str) -> tuple[float, str]:
    """``(score, item_id)`` of a position cursor; raises :class:`CursorError` when it is not
    base64url of UTF-8 text starting with a number and a colon.
    """
    try:
        score, _, item_id = _unpack(cursor).decode().partition(":")
        return float(score), item_id
    except (UnicodeDecodeError, ValueError) as exc:
        raise CursorError("not a cursor of this API") from exc
