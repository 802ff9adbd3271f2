"""The rules of the typed fields: ``date``, ``time``, ``number`` (their bounds and step) and
``checkbox_group`` (its stored shape). One module, read by the form check (is a bound readable, is
``min`` ≤ ``max``), the submission check (services/forms/validate.py) and the public definition.

- ``date``: ISO 8601 calendar date ``YYYY-MM-DD``. ``min``/``max`` are dates (``2026-01-31``) or
  offsets in days from today (``+1d``, ``-7d``, ``+0d`` for today); "today" is the calendar date in
  the site's ``timezone`` (:meth:`frontdesk.site.SiteSettings.today`), so a bound moves at the
  site's midnight. Codes: ``invalid_date``, ``date_too_early``, ``date_too_late``.
- ``time``: ``HH:MM`` on a 24-hour clock (``00:00``–``23:59``); ``min``/``max`` the same.
  Codes: ``invalid_time``, ``time_too_early``, ``time_too_late``.
- ``number``: a decimal ``-?digits[.digits]`` (no exponent, no sign ``+``, at most 30 digits on each
  side of the point), compared in :class:`decimal.Decimal`, never in binary floats: ``step: 0.1``
  takes ``0.3``. ``step`` counts from ``min`` (else from 0), as HTML's ``<input type=number>``.
  Codes: ``number_invalid`` (``invalid_number`` is the phone's), ``number_too_small``,
  ``number_too_large``, ``number_step``.
- ``checkbox_group``: any number of its ``options``, posted as a JSON array of strings or as
  repeated keys of a form body; stored as one string, the chosen options in the field's order,
  one per line (:data:`GROUP_SEPARATOR`; an option holds no line break, the form check sees to it).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from decimal import Decimal
from typing import Any

GROUP_SEPARATOR = "\n"

# [0-9], not \d: \d takes any script's digits ("٣"), which these formats do not.
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_OFFSET = re.compile(r"^([+-])([0-9]{1,5})d$")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_DECIMAL = re.compile(r"^-?[0-9]{1,30}(?:\.[0-9]{1,30})?$")
# Enough precision for 30 + 30 digits: the step's remainder is exact, never rounded.
_CONTEXT = decimal.Context(prec=80, traps=[decimal.InvalidOperation, decimal.Overflow])


class BoundError(ValueError):
    """A ``min``, ``max`` or ``step`` of a form file that cannot be read; the message says why."""


def parse_date(text: str) -> dt.date | None:
    """The date of ``YYYY-MM-DD`` text, or ``None`` (another shape, or no such day)."""
    if not _DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def parse_time(text: str) -> str | None:
    """``text`` when it is ``HH:MM`` (24-hour clock), else ``None``; the text sorts as the time."""
    return text if _TIME.fullmatch(text) else None


def parse_decimal(text: str) -> Decimal | None:
    """The exact decimal of ``-?digits[.digits]`` text, else ``None``."""
    return Decimal(text) if _DECIMAL.fullmatch(text) else None


def _text(bound: Any) -> str:
    """A bound as the editor wrote it: YAML reads ``2026-01-31`` as a date and ``0.5`` as a float;
    both come back as text (a float through its shortest repr, so ``0.1`` stays ``0.1``).
    """
    if isinstance(bound, bool):
        raise BoundError(f"{bound!r} is not a bound")
    if isinstance(bound, dt.date) and not isinstance(bound, dt.datetime):
        return bound.isoformat()
    if isinstance(bound, int | float | str):
        return str(bound)
    raise BoundError(f"{bound!r} is not a bound")


def date_bound(bound: Any, today: dt.date) -> dt.date | None:
    """The date a ``min``/``max`` of a date field names on ``today``: a date, or an offset in days
    (``+1d``, ``-7d``); ``None`` when unset. Raises :class:`BoundError`.
    """
    if bound is None:
        return None
    text = _text(bound)
    offset = _OFFSET.fullmatch(text)
    if offset:
        days = int(offset.group(2)) * (1 if offset.group(1) == "+" else -1)
        try:
            return today + dt.timedelta(days=days)
        except OverflowError:
            raise BoundError(f"{text!r} is beyond the calendar") from None
    date = parse_date(text)
    if date is None:
        raise BoundError(f"{text!r} is neither a date (YYYY-MM-DD) nor an offset such as +1d")
    return date


def time_bound(bound: Any) -> str | None:
    """The ``HH:MM`` of a time field's ``min``/``max``; ``None`` when unset. YAML 1.1 reads an
    unquoted ``10:30`` as the number 630 (base 60): that, too, raises :class:`BoundError`.
    """
    if bound is None:
        return None
    if isinstance(bound, int) and not isinstance(bound, bool):
        raise BoundError(f"{bound!r} is a number to YAML: quote the time, as in '10:30'")
    text = _text(bound)
    if parse_time(text) is None:
        raise BoundError(f"{text!r} is not a time HH:MM (00:00 to 23:59)")
    return text


def decimal_bound(bound: Any) -> Decimal | None:
    """The exact decimal of a number field's ``min``/``max``/``step``; ``None`` when unset.
    Raises :class:`BoundError`.
    """
    if bound is None:
        return None
    text = _text(bound)
    number = parse_decimal(text)
    if number is None:
        raise BoundError(f"{text!r} is not a decimal number such as 10 or 0.5")
    return number


def check_date(value: str, lowest: Any, highest: Any, today: dt.date) -> str | None:
    """The error code of date ``value`` within ``lowest``..``highest`` (bounds as in the form),
    ``today`` in the site's zone; ``None`` when accepted. Bounds are checked by the form check.
    """
    date = parse_date(value)
    if date is None:
        return "invalid_date"
    low, high = date_bound(lowest, today), date_bound(highest, today)
    if low is not None and date < low:
        return "date_too_early"
    if high is not None and date > high:
        return "date_too_late"
    return None


def check_time(value: str, lowest: Any, highest: Any) -> str | None:
    """The error code of time ``value`` within ``lowest``..``highest``; ``None`` when accepted."""
    if parse_time(value) is None:
        return "invalid_time"
    low, high = time_bound(lowest), time_bound(highest)
    if low is not None and value < low:
        return "time_too_early"
    if high is not None and value > high:
        return "time_too_late"
    return None


def check_number(value: str, lowest: Any, highest: Any, step: Any) -> str | None:
    """The error code of number ``value`` within ``lowest``..``highest`` on ``step`` (counted from
    ``lowest``, else 0); ``None`` when accepted. Exact decimal arithmetic throughout.
    """
    number = parse_decimal(value)
    if number is None:
        return "number_invalid"
    low, high, stride = decimal_bound(lowest), decimal_bound(highest), decimal_bound(step)
    if low is not None and number < low:
        return "number_too_small"
    if high is not None and number > high:
        return "number_too_large"
    if stride is not None and stride > 0:
        base = low if low is not None else Decimal(0)
        if _CONTEXT.remainder(_CONTEXT.subtract(number, base), stride) != 0:
            return "number_step"
    return None


def chosen_options(values: list[str], options: list[str]) -> str | None:
    """The stored value of a checkbox group: the ``options`` among ``values``, in the field's
    order, one a line; ``None`` when a value is not an option.
    """
    if any(value not in options for value in values):
        return None
    return GROUP_SEPARATOR.join(option for option in options if option in values)
