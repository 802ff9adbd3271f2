"""Reading a form's submissions through its index, newest first: the staff list and exports.

A form's index (``form_index_key``) is a sorted set of submission ids scored by creation time in
ms; a record expires on its own (the form's retention), so an index entry may outlive it and is
dropped when a scan meets it. Every function here does blocking Redis I/O (run it in a worker
thread) and raises ``redis.RedisError`` when Redis fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import redis

from frontdesk.cursors import encode_position
from frontdesk.submissions.keys import form_index_key, submission_key
from frontdesk.submissions.record import Submission, decoder
from frontdesk.submissions.staff.schemas import Page

# Index entries read per round trip: the records of one batch are fetched with one MGET.
PAGE_SCAN = 200


def scan(
    connection: redis.Redis,
    form_id: str,
    status: str | None,
    since: dt.datetime | None,
    cursor: tuple[float, str] | None,
    until: dt.datetime | None = None,
) -> Iterator[tuple[float, Submission]]:
    """``(score, record)`` of ``form_id``'s submissions newest first (score = creation ms), only
    those of ``status``, created at or after ``since`` and before ``until`` when given, strictly
    after the position ``cursor`` (``(score, id)`` of the last one seen) when given; index
    entries whose record expired are dropped from the index on the way.
    """
    index = form_index_key(form_id)
    top: float | str = "+inf" if cursor is None else cursor[0]
    if cursor is None and until is not None:
        top = f"({until.timestamp() * 1000}"  # exclusive: the first ms of the day after a range
    bottom: float | str = "-inf" if since is None else since.timestamp() * 1000
    while True:
        rows: list[tuple[bytes, float]] = list(
            connection.zrevrangebyscore(  # type: ignore[arg-type]
                index, top, bottom, start=0, num=PAGE_SCAN, withscores=True
            )
        )
        if not rows:
            return
        ids = [row[0].decode() for row in rows]
        raws = connection.mget([submission_key(i) for i in ids])
        for (member, score), submission_id, raw in zip(rows, ids, raws, strict=True):
            if cursor is not None and score == cursor[0] and submission_id >= cursor[1]:
                continue
            if raw is None:
                connection.zrem(index, member)
                continue
            record = decoder.decode(raw)
            if status is None or record.status == status:
                yield score, record
        last_score = float(rows[-1][1])
        if len(rows) < PAGE_SCAN:
            return
        # Continue below the last score; same-score ties are covered by the cursor rule.
        cursor = (last_score, ids[-1])
        top = last_score


def page(
    connection: redis.Redis,
    form_id: str,
    limit: int,
    position: tuple[float, str] | None,
    status: str | None,
    since: dt.datetime | None,
) -> Page:
    """Up to ``limit`` submissions of :func:`scan` from ``position`` on; ``next_cursor`` is the
    position cursor (:func:`~frontdesk.cursors.encode_position`) of the last one when more follow.
    """
    items: list[Submission] = []
    scores: list[float] = []
    for score, record in scan(connection, form_id, status, since, position):
        if len(items) == limit:
            return Page(items=items, next_cursor=encode_position(scores[-1], items[-1].id))
        items.append(record)
        scores.append(score)
    return Page(items=items, next_cursor=None)
