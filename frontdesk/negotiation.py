"""Quality values of content negotiation (RFC 9110 §12.4.2): the one parser of ``Accept``,
``Accept-Encoding`` and ``Accept-Language``.

Each of those headers is a comma-separated list whose members may carry parameters, among them a
weight ``q`` from 0 to 1 (``gzip;q=0.5``, ``fr-CH, fr;q=0.9``, ``text/html;level=1;q=0.8``).
:func:`weighted` reads such a list once; the services decide what the weights mean (which encoding,
which media type, which language).
"""

from __future__ import annotations

import functools
from typing import NamedTuple


class Weighted(NamedTuple):
    """One member of a weighted list: ``value`` (lower case, parameters but ``q`` dropped),
    its ``quality`` (0–1; 0 is "not acceptable") and ``position`` (its index among the list's
    comma-separated items, empty ones counted, so earlier members can win ties).
    """

    value: str
    quality: float
    position: int


def quality(params: list[str]) -> float:
    """The ``q`` of one member's parameters (``["level=1", " q=0.8"]``): 1 when absent; 0 when it
    is not a number from 0 to 1 (RFC 9110 §12.4.2 allows nothing else). The name is
    case-insensitive.
    """
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value.strip())
            except ValueError:
                return 0.0
            return weight if 0.0 <= weight <= 1.0 else 0.0
    return 1.0


@functools.lru_cache(maxsize=1024)  # pure; clients send a handful of distinct headers
def weighted(header: str) -> tuple[Weighted, ...]:
    """The members of ``header`` in the order sent, empty ones left out:
    ``"gzip;q=0.5, br"`` → ``(Weighted("gzip", 0.5, 0), Weighted("br", 1.0, 1))``.
    """
    members: list[Weighted] = []
    for position, item in enumerate(header.split(",")):
        value, *params = item.split(";")
        value = value.strip().lower()
        if value:
            members.append(Weighted(value, quality(params), position))
    return tuple(members)
