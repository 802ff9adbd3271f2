"""The staff exports of a form's submissions: CSV (RFC 4180) and JSON Lines, streamed.

The row generators do blocking Redis I/O (:func:`~frontdesk.submissions.staff.queries.scan`);
:func:`in_thread` runs them in worker threads a chunk at a time, for a Litestar ``Stream``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Iterator

import anyio
import msgspec
import redis

from frontdesk.submissions.definition import FormDefinition
from frontdesk.submissions.record import UTM_KEYS
from frontdesk.submissions.staff.queries import scan

# Spreadsheet programs run a cell starting with one of these as a formula (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_rows(
    connection: redis.Redis,
    form: FormDefinition,
    status: str | None,
    since: dt.datetime | None,
    bom: bool,
    until: dt.datetime | None = None,
) -> Iterator[bytes]:
    """The CSV export of ``form`` (RFC 4180, UTF-8, a BOM first when ``bom``): one header row (id,
    status, created_at, the form's field names, the phone's parts, flags, where it came from:
    ``source_url``, ``source_title`` and the five ``utm_*`` parameters), then one row a
    submission; cells starting with ``= + - @``, tab or CR are prefixed with ``'`` so no
    spreadsheet runs them. ``until`` (exclusive) ends a date range that ``since`` starts.
    """
    names = [f.name for f in form.fields]
    header = [
        "id",
        "status",
        "created_at",
        *names,
        "phone_e164",
        "phone_extension",
        "phone_region",
        "phone_valid",
        "flags",
        "source_url",
        "source_title",
        *UTM_KEYS,
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield (("\ufeff" if bom else "") + buffer.getvalue()).encode()
    for _, record in scan(connection, form.id, status, since, None, until):
        buffer.seek(0)
        buffer.truncate()
        phone = record.phone
        source = record.source
        writer.writerow(
            [
                _cell(v)
                for v in [
                    record.id,
                    record.status,
                    record.created_at.isoformat(),
                    *[record.fields.get(n, "") for n in names],
                    phone.e164 if phone else "",
                    phone.extension if phone else "",
                    phone.region if phone else "",
                    ("yes" if phone.valid else "no") if phone else "",
                    " ".join(record.flags),
                    source.url if source else "",
                    (source.title or "") if source else "",
                    *[source.utm.get(k, "") if source else "" for k in UTM_KEYS],
                ]
            ]
        )
        yield buffer.getvalue().encode()


def jsonl_rows(
    connection: redis.Redis,
    form_id: str,
    status: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None = None,
) -> Iterator[bytes]:
    """The JSON Lines export: one submission record (as ``GET /v1/submissions/{id}``) a line;
    ``since`` (inclusive) and ``until`` (exclusive) bound the creation times when given.
    """
    encoder = msgspec.json.Encoder()
    for _, record in scan(connection, form_id, status, since, None, until):
        yield encoder.encode(record) + b"\n"


async def in_thread(rows: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Run a blocking row generator in worker threads, one chunk at a time."""
    done = object()
    while True:
        chunk = await anyio.to_thread.run_sync(next, rows, done)
        if chunk is done:
            return
        yield chunk  # type: ignore[misc]
