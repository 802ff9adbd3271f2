"""Reading a form's submissions through its index, newest first: the staff list and exports.

A form's index (``form_index_key``) is a sorted set of submission ids scored by creation time in
ms; a record expires on its own (the form's retention), so an index entry may outlive it and is
dropped when a scan meets it. Every function here does blocking Redis I/O (run it in a worker
thread) and raises ``redis.RedisError`` when Redis fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator

import msgspec
import redis

from frontdesk.cursors import encode_position
from frontdesk.submissions.keys import form_index_key, submission_key
from frontdesk.submissions.record import Submission, decoder
from frontdesk.submissions.staff.schemas import Page

# Index entries read per round trip: the records of one batch are fetched with one MGET.
PAGE_SCAN = 200
# The unread count reads whole indexes: bigger batches, fewer round trips.
COUNT_SCAN = 1000

Position = tuple[float, str]
"""``(score, id)`` of a listed submission: its creation time in ms and its id."""


def scan(
    connection: redis.Redis,
    form_id: str,
    status: str | None,
    since: dt.datetime | None,
    cursor: Position | None,
    until: dt.datetime | None = None,
    prefilter: Callable[[bytes], bool] | None = None,
    down_to: float | None = None,
) -> Iterator[tuple[float, Submission]]:
    """``(score, record)`` of ``form_id``'s submissions newest first (score = creation ms), only
    those of ``status`` and created at or after ``since`` and before ``until`` when given, strictly
    after the position ``cursor`` (``(score, id)`` of the last one seen) when given; index entries
    whose record expired are dropped from the index on the way. Records are read
    :data:`PAGE_SCAN` at a time (one ``MGET``), and only as far as the caller iterates; those
    whose stored bytes ``prefilter`` (when given) is false of are skipped undecoded; none scored
    below ``down_to`` (ms) when given.
    """
    index = form_index_key(form_id)
    top: float | str = "+inf" if until is None else f"({until.timestamp() * 1000!r}"
    if cursor is not None:
        top = cursor[0]
    bottom: float | str = "-inf" if since is None else since.timestamp() * 1000
    if down_to is not None:
        bottom = down_to if since is None else max(down_to, since.timestamp() * 1000)
    while True:
        # Ids without scores (parsing a score per entry costs more than the MGET); each record's
        # score is its creation ms, exactly what the store indexed it at. The batch's last score,
        # needed to go on, is read in the same transaction, so it is there even when its record
        # expired.
        with connection.pipeline(transaction=True) as pipe:
            pipe.zrevrangebyscore(index, top, bottom, start=0, num=PAGE_SCAN)
            pipe.zrevrangebyscore(index, top, bottom, start=PAGE_SCAN - 1, num=1, withscores=True)
            members, edge = pipe.execute()
        if not members:
            return
        ids = [member.decode() for member in members]
        raws: list[bytes | None] = connection.mget(  # type: ignore[assignment]
            [submission_key(i) for i in ids]
        )
        for member, submission_id, raw in zip(members, ids, raws, strict=True):
            if raw is None:
                connection.zrem(index, member)
                continue
            if prefilter is not None and not prefilter(raw):
                continue
            record = decoder.decode(raw)
            score = record.created_at.timestamp() * 1000
            if cursor is not None and score == cursor[0] and submission_id >= cursor[1]:
                continue
            if status is None or record.status == status:
                yield score, record
        if len(members) < PAGE_SCAN or not edge:
            return
        # Continue below the last score; same-score ties are covered by the cursor rule.
        last_score = float(edge[0][1])
        cursor = (last_score, ids[-1])
        top = last_score


def page(
    connection: redis.Redis,
    form_id: str,
    limit: int,
    position: tuple[float, str] | None,
    status: str | None,
    since: dt.datetime | None,
    *,
    until: dt.datetime | None = None,
    keep: Callable[[Submission], bool] | None = None,
    floor: Position | None = None,
    prefilter: Callable[[bytes], bool] | None = None,
) -> Page:
    """Up to ``limit`` submissions of :func:`scan` from ``position`` on, those ``keep`` (when
    given) is true of (e.g. :meth:`frontdesk.submissions.staff.search.Criteria.matches`), none
    below the position ``floor`` (when given: the last one down to and including it); reading
    stops once the page is full; ``prefilter`` skips records by their stored bytes
    (:func:`scan`). ``next_cursor`` is the position cursor
    (:func:`~frontdesk.cursors.encode_position`) of the last one when more follow.
    """
    items: list[Submission] = []
    scores: list[float] = []
    down_to = floor[0] if floor is not None else None
    found = scan(connection, form_id, status, since, position, until, prefilter, down_to)
    for score, record in found:
        if floor is not None and (score, record.id) < floor:
            break
        if keep is not None and not keep(record):
            continue
        if len(items) == limit:
            return Page(items=items, next_cursor=encode_position(scores[-1], items[-1].id))
        items.append(record)
        scores.append(score)
    return Page(items=items, next_cursor=None)


class _Readers(msgspec.Struct):
    """The one part of a record the unread count needs when it must decode."""

    read_by: list[str] = []


_readers = msgspec.json.Decoder(_Readers)
_READ_BY = b'"read_by":['


def has_read(raw: bytes, address: str) -> bool:
    r"""Whether the encoded record ``raw`` lists ``address`` in its ``read_by``, without decoding
    it: the bytes ``"read_by":[`` can only be that key (a ``"`` inside any JSON string is escaped,
    and no other key holds a list under that name), and its list holds JSON strings of staff
    addresses up to the first ``]``. An address with ``"``, ``\`` or ``]`` is looked up by
    decoding.
    """
    if any(c in address for c in '"\\]'):
        return address in _readers.decode(raw).read_by
    start = raw.find(_READ_BY)
    if start < 0:
        return False  # stored before readers were kept
    start += len(_READ_BY)
    return f'"{address}"'.encode() in raw[start : raw.find(b"]", start)]


def unread_counts(connection: redis.Redis, form_ids: Iterable[str], address: str) -> dict[str, int]:
    """How many stored submissions of each form in ``form_ids`` do not list ``address`` in their
    ``read_by``: every index read :data:`COUNT_SCAN` entries and one ``MGET`` at a time, each
    record looked at with :func:`has_read`. An index entry whose record expired counts nothing.
    """
    counts: dict[str, int] = {}
    for form_id in form_ids:
        index = form_index_key(form_id)
        unread, start = 0, 0
        while True:
            ids: list[bytes] = connection.zrange(index, start, start + COUNT_SCAN - 1)  # type: ignore[assignment]
            if not ids:
                break
            raws: list[bytes | None] = connection.mget(  # type: ignore[assignment]
                [submission_key(i.decode()) for i in ids]
            )
            for raw in raws:
                if raw is not None and not has_read(raw, address):
                    unread += 1
            if len(ids) < COUNT_SCAN:
                break
            start += COUNT_SCAN
        counts[form_id] = unread
    return counts
