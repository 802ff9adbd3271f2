"""Turning msgspec validation errors into ``(path, message)`` pairs for file problems."""

from __future__ import annotations

import msgspec


def where_and_what(exc: msgspec.ValidationError) -> tuple[str, str]:
    """``("$.sections[3]", "Expected `str`, got `int`")`` from msgspec's ``"msg - at `path`"``.

    msgspec says ``at `key` in `$.x``` when a mapping *key* is wrong; that becomes path ``$.x``
    and the message gains ``(a key)``. An error without a location is at ``$``.
    """
    message, _, where = str(exc).rpartition(" - at ")
    if not message:
        return "$", where
    where = where.strip("`")
    if where.startswith("key` in `"):
        return where.removeprefix("key` in `"), f"{message} (a key)"
    return where, message
