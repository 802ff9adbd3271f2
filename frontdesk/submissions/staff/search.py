"""Finding inquiries: the staff list's filters and search as pure functions over one record.

The inbox's list (services/inbox/listing.py) and any staff list over a form's index
(:func:`frontdesk.submissions.staff.queries.page`, its ``keep`` argument) use the same
:class:`Criteria`; nothing here does I/O.

- **Workflow**: ``inquiry_status`` (``new``, ``in_progress``, ``answered``, ``closed``).
- **Assignee**: an address (compared in lower case), or :data:`UNASSIGNED` for none.
- **Delivery** (:data:`DeliveryState`): ``quarantined`` (held, nothing sent), ``notified`` (the
  staff mail was sent), ``failed`` (the submission failed, or any of its messages did), ``queued``
  (a message waits to go: ``queued`` or ``sending``, not quarantined).
- **Search** (``text``): a case-insensitive substring (Unicode NFKC, case-folded, runs of white
  space as one space) of any searched field; and, when the text looks like a phone number
  (only digits, spaces and ``+-()./``, at least :data:`MIN_PHONE_DIGITS` digits), its digits
  within the stored number's digits — as typed, or in E.164 — so ``0151 234``, ``+49 151-234``,
  ``0049151234`` and ``(415) 555-0132`` all find the numbers they are part of.
- **Dates**: :func:`day_range` turns a from/to calendar date in the site's time zone into the
  index's score range.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import zoneinfo
from collections.abc import Callable, Collection
from typing import Literal, get_args

import msgspec

from frontdesk.submissions.record import InquiryStatus, Submission

DeliveryState = Literal["queued", "notified", "failed", "quarantined"]
DELIVERY_STATES: tuple[DeliveryState, ...] = get_args(DeliveryState)
INQUIRY_STATUSES: tuple[InquiryStatus, ...] = get_args(InquiryStatus)
UNASSIGNED = "unassigned"
"""The assignee filter's value for inquiries nobody is assigned to (no address has no ``@``)."""
MIN_PHONE_DIGITS = 3
"""Fewer digits than this are searched as text only: two digits would match most numbers."""

_PHONE_TEXT = re.compile(r"[0-9\s+\-()./]+")
_NOT_DIGIT = re.compile(r"[^0-9]")
_NOT_DIGIT_BYTES = bytes(b for b in range(256) if not 48 <= b <= 57)
# Characters a search text may hold for the stored bytes to decide (JSON escapes none of them).
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789@.-_+,:;!?'#&/()")


def normalise(text: str, spaces: bool = True) -> str:
    """``text`` as the search compares it: NFKC, case-folded, white space runs as one space
    (unless ``spaces`` is false: a text without white space is found the same without it).
    """
    folded = (text if text.isascii() else unicodedata.normalize("NFKC", text)).casefold()
    return " ".join(folded.split()) if spaces else folded


def digits(text: str) -> str:
    """The ASCII digits of ``text`` (after NFKC, so full-width digits count), in order."""
    return _NOT_DIGIT.sub("", unicodedata.normalize("NFKC", text))


def phone_query(text: str) -> str | None:
    """The digits to look for in stored numbers when ``text`` looks like a phone number (see the
    module's docstring), leading zeros dropped (a trunk ``0`` or an international ``00`` is not
    in E.164); else ``None``.
    """
    typed = unicodedata.normalize("NFKC", text).strip()
    if not typed or not _PHONE_TEXT.fullmatch(typed):
        return None
    found = digits(typed)
    if len(found) < MIN_PHONE_DIGITS:
        return None
    return found.lstrip("0") or None


def phone_matches(query: str, stored: Collection[str]) -> bool:
    """Whether the phone ``query`` (:func:`phone_query`: digits without leading zeros) is within
    the digits of any of the ``stored`` forms of a number (as typed, E.164).
    """
    return any(query in digits(number) for number in stored)


class Search(msgspec.Struct, frozen=True):
    """A search text prepared once for many records: ``wanted`` (:func:`normalise`d), ``phone``
    (:func:`phone_query`, or ``None``), ``spaces`` (whether ``wanted`` has white space).
    """

    wanted: str
    phone: str | None
    spaces: bool

    def may_match(self, raw: bytes) -> bool:
        """``False`` only when the encoded record ``raw`` cannot match (so it need not be
        decoded); ``True`` when it may. For an ASCII record and a search text of plain ASCII
        words (no character JSON escapes), a field holding the text puts each of its words in
        ``raw``'s lower case; a phone's digits (as typed or E.164) stay together among ``raw``'s
        digits.
        """
        if not raw.isascii():
            return True
        words = self.wanted.split(" ")
        if not all(words) or not all(set(word) <= _PLAIN for word in words):
            return True
        lowered = raw.lower()
        if all(word.encode() in lowered for word in words):
            return True
        return self.phone is not None and self.phone.encode() in raw.translate(
            None, _NOT_DIGIT_BYTES
        )

    @classmethod
    def of(cls, text: str) -> Search:
        """The prepared search of ``text``."""
        wanted = normalise(text)
        return cls(wanted, phone_query(text), " " in wanted)

    def matches(self, record: Submission, searched: Collection[str] | None = None) -> bool:
        """Whether a searched field (``None``: every field) of ``record`` holds ``wanted``, or
        its phone the digits of ``phone``.
        """
        for name, value in record.fields.items():
            if (searched is None or name in searched) and self.wanted in normalise(
                value, self.spaces
            ):
                return True
        if self.phone is None or record.phone is None:
            return False
        stored = [n for n in (record.phone.raw, record.phone.e164) if n]
        return phone_matches(self.phone, stored)


class Criteria(msgspec.Struct, frozen=True, kw_only=True):
    """What an inquiry must be to be listed; ``None`` (or empty ``text``) leaves that part open.
    ``assignee`` is an address or :data:`UNASSIGNED`.
    """

    inquiry_status: InquiryStatus | None = None
    assignee: str | None = None
    delivery: DeliveryState | None = None
    text: str | None = None

    @property
    def is_open(self) -> bool:
        """Whether every record matches (no part set)."""
        return (
            self.inquiry_status is None
            and self.assignee is None
            and self.delivery is None
            and not (self.text or "").strip()
        )

    def matcher(self, searched: Collection[str] | None = None) -> Callable[[Submission], bool]:
        """The test of a record against every part, the search prepared once (:class:`Search`);
        it reads the fields named in ``searched`` (``None``: every field) and the record's phone.
        """
        text = (self.text or "").strip()
        search = Search.of(text) if text else None

        def matches(record: Submission) -> bool:
            if self.inquiry_status is not None and record.inquiry_status != self.inquiry_status:
                return False
            if self.assignee is not None and not _assigned(record, self.assignee):
                return False
            if self.delivery is not None and delivery_state(record) != self.delivery:
                return False
            return search is None or search.matches(record, searched)

        return matches

    def prefilter(self) -> Callable[[bytes], bool] | None:
        """A test of a record's stored bytes that is ``False`` only for records that cannot
        match (:meth:`Search.may_match`), or ``None`` without a search.
        """
        text = (self.text or "").strip()
        return Search.of(text).may_match if text else None

    def matches(self, record: Submission, searched: Collection[str] | None = None) -> bool:
        """Whether ``record`` meets every part (:meth:`matcher`, for one record)."""
        return self.matcher(searched)(record)


def _assigned(record: Submission, assignee: str) -> bool:
    if assignee == UNASSIGNED:
        return not record.assignee
    return (record.assignee or "").lower() == assignee.lower()


def delivery_state(record: Submission) -> DeliveryState:
    """The one :data:`DeliveryState` of ``record`` (checked in this order): ``quarantined``,
    ``failed``, ``notified`` when no other message waits, ``queued`` otherwise.
    """
    if record.status == "quarantined":
        return "quarantined"
    if record.status == "failed" or any(m.status == "failed" for m in record.messages):
        return "failed"
    if any(m.status in ("queued", "sending") for m in record.messages):
        return "queued"
    return "notified" if record.status == "notified" else "queued"


def search_matches(record: Submission, text: str, searched: Collection[str] | None = None) -> bool:
    """Whether ``text`` is within a searched field (``None``: every field) of ``record``, or, when
    it looks like a phone number, within its phone's digits (module docstring).
    """
    return Search.of(text).matches(record, searched)


def day_range(
    first: dt.date | None, last: dt.date | None, zone: str
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``(since, until)``: the start of ``first`` and the end of ``last`` (the start of the next
    day, exclusive) in the IANA ``zone``, as aware datetimes; ``None`` for a bound not given.
    Raises ``zoneinfo.ZoneInfoNotFoundError`` for an unknown zone.
    """
    tz = zoneinfo.ZoneInfo(zone)
    since = dt.datetime.combine(first, dt.time(), tz) if first else None
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz) if last else None
    return since, until
