"""The staff API (DESIGN.md "Forms API"): list and export, read, release, resend, delete, erase.

Served on the forms service's internal port only (services/forms/internal.py). Every route runs
:func:`~services.forms.staffauth.staff_guard` first — throttle, ``Authorization: Bearer <token>``
(RFC 6750) against ``FRONTDESK_STAFF_TOKENS``, the token's forms and actions — before its
parameters or body are read. Every action writes one audit line (logger ``frontdesk.audit``: token
name, action, submission id or form) and never visitor data. Every answer is ``no-store`` (the
internal app's :class:`~frontdesk.internal.NoStore`).
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import logging
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from typing import Annotated, Any, Literal, TypeVar

import anyio
import msgspec
import redis
from litestar import HttpMethod, Request, Response, delete, get, post, route
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Stream

from frontdesk.problems import (
    ProblemError,
    on_http_exception,
    problem_response,
    problem_responses,
)
from frontdesk.submissions.budget import queued_messages
from frontdesk.submissions.keys import form_index_key, submission_key
from frontdesk.submissions.problems import form_not_found
from frontdesk.submissions.record import (
    MessageKind,
    MessageState,
    Submission,
    SubmissionStatus,
    decoder,
)
from frontdesk.submissions.store import StoreUnavailable, WrongStatus, load_submission
from services.forms.openapi import StaffListOperation
from services.forms.staffauth import require_form, staff_guard, staff_token
from services.forms.state import FormsState

audit = logging.getLogger("frontdesk.audit")

# Spreadsheet programs run a cell starting with one of these as a formula (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PAGE_SCAN = 200


class Page(msgspec.Struct, kw_only=True):
    """A page of submissions, newest first; ``next_cursor`` is ``None`` on the last page."""

    items: list[Submission]
    next_cursor: str | None


class Erasure(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/erasures`` body: every submission with this address is deleted."""

    email: str


class Erased(msgspec.Struct):
    """How many submissions an erasure deleted."""

    erased: int


def _state(request: Request[Any, Any, State]) -> FormsState:
    state: FormsState = request.app.state.forms
    return state


def _log(name: str, action: str, target: str) -> None:
    audit.info("staff=%s action=%s target=%s", name, action, target)


def _encode_cursor(score: float, submission_id: str) -> str:
    return base64.urlsafe_b64encode(f"{score!r}:{submission_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        score, _, submission_id = text.partition(":")
        return float(score), submission_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ProblemError(400, "bad_cursor", "The cursor is not one this API gave out.") from None


def _scan(
    connection: redis.Redis,
    form_id: str,
    status: str | None,
    since: dt.datetime | None,
    cursor: tuple[float, str] | None,
) -> Iterator[tuple[float, Submission]]:
    """Submissions of ``form_id`` newest first (score = creation ms), from ``cursor`` on; index
    entries whose record expired are dropped from the index on the way.
    """
    index = form_index_key(form_id)
    top: float | str = "+inf" if cursor is None else cursor[0]
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


def _page(
    state: FormsState,
    form_id: str,
    limit: int,
    cursor: str | None,
    status: str | None,
    since: dt.datetime | None,
) -> Page:
    position = _decode_cursor(cursor) if cursor else None
    items: list[Submission] = []
    scores: list[float] = []
    for score, record in _scan(state.store.redis, form_id, status, since, position):
        if len(items) == limit:
            return Page(items=items, next_cursor=_encode_cursor(scores[-1], items[-1].id))
        items.append(record)
        scores.append(score)
    return Page(items=items, next_cursor=None)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_rows(
    state: FormsState, form_id: str, status: str | None, since: dt.datetime | None, bom: bool
) -> Iterator[bytes]:
    """The CSV export (RFC 4180, UTF-8, optional BOM): one header row, then one row a submission;
    cells starting with ``= + - @``, tab or CR are prefixed with ``'`` so no spreadsheet runs them.
    """
    form = state.forms[form_id]
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
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield (("\ufeff" if bom else "") + buffer.getvalue()).encode()
    for _, record in _scan(state.store.redis, form_id, status, since, None):
        buffer.seek(0)
        buffer.truncate()
        phone = record.phone
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
                ]
            ]
        )
        yield buffer.getvalue().encode()


def jsonl_rows(
    state: FormsState, form_id: str, status: str | None, since: dt.datetime | None
) -> Iterator[bytes]:
    """The JSON Lines export: one submission record (as ``GET /v1/submissions/{id}``) a line."""
    encoder = msgspec.json.Encoder()
    for _, record in _scan(state.store.redis, form_id, status, since, None):
        yield encoder.encode(record) + b"\n"


async def _in_thread(rows: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Run a blocking row generator in worker threads, one chunk at a time."""
    done = object()
    while True:
        chunk = await anyio.to_thread.run_sync(next, rows, done)
        if chunk is done:
            return
        yield chunk  # type: ignore[misc]


BAD_LIMIT = ("bad_limit", "limit must be from 1 to 100.")
BAD_SINCE = ("bad_since", "since must be an RFC 3339 time with an offset.")
# A query value Litestar cannot convert gets the same code as one out of range: limit=abc is
# bad_limit as limit=0 is, since=...-24:00 is bad_since as a time without offset is.
_PARAMETER_CODES = {"limit": BAD_LIMIT, "since": BAD_SINCE}


def _list_parameter_problem(request: Request[Any, Any, State], exc: ValidationException) -> Any:
    """``bad_limit`` / ``bad_since`` for an unreadable ``limit`` / ``since`` (the first in that
    order when both are); any other parameter keeps the generic ``malformed_request``.
    """
    keys = (
        {e.get("key") for e in exc.extra if isinstance(e, dict)}
        if isinstance(exc.extra, list)
        else set()
    )
    for key, (code, detail) in _PARAMETER_CODES.items():
        if key in keys:
            return problem_response(400, code, detail)
    return on_http_exception(request, exc)


# What every staff route can answer besides its own: the guard's 401, 403, 429 and 503.
GUARD_STATUSES = (401, 403, 429, 503)


@get(
    "/v1/forms/{form_id:str}/submissions",
    summary="List or export a form's submissions (staff)",
    operation_class=StaffListOperation,
    responses=problem_responses(400, 404, *GUARD_STATUSES),
    exception_handlers={ValidationException: _list_parameter_problem},
    opt={"staff_action": "read"},  # the guard makes format=csv|jsonl "export"
    guards=[staff_guard],
)
async def list_submissions(
    request: Request[Any, Any, State],
    form_id: FromPath[str],
    limit: FromQuery[int] = 20,
    cursor: FromQuery[str | None] = None,
    status: FromQuery[SubmissionStatus | None] = None,
    since: FromQuery[dt.datetime | None] = None,
    format: FromQuery[Literal["json", "csv", "jsonl"]] = "json",
    bom: FromQuery[bool] = False,
) -> Response[Any]:
    """Newest first: ``{items, next_cursor}`` (``limit`` 1–100); ``format=csv`` or ``jsonl``
    streams every matching submission. ``since`` is RFC 3339.
    """
    name = staff_token(request).name
    state = _state(request)
    if form_id not in state.forms:
        raise form_not_found(form_id)
    if not 1 <= limit <= 100:
        raise ProblemError(400, *BAD_LIMIT)
    if since is not None and since.tzinfo is None:
        raise ProblemError(400, *BAD_SINCE)
    _log(name, f"list:{format}", f"form:{form_id}")
    if format == "csv":
        rows = csv_rows(state, form_id, status, since, bom)
        disposition = f'attachment; filename="{form_id}-submissions.csv"'
        return Stream(
            _in_thread(rows),
            media_type="text/csv",  # Litestar adds "; charset=utf-8" to text/* types
            headers={"Content-Disposition": disposition},
        )
    if format == "jsonl":
        return Stream(
            _in_thread(jsonl_rows(state, form_id, status, since)),
            media_type="application/jsonl",
        )
    page = await _from_store(_page, state, form_id, limit, cursor, status, since)
    return Response(content=page)


T = TypeVar("T")


async def _from_store(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in a worker thread (blocking Redis I/O); 503 problem+json when Redis fails."""
    try:
        return await anyio.to_thread.run_sync(call, *args)
    except (StoreUnavailable, redis.RedisError):
        raise ProblemError(503, "store_unavailable", "Redis does not answer.") from None


def _found(record: Submission | None, submission_id: str) -> Submission:
    if record is None:
        raise ProblemError(
            404, "submission_not_found", f"There is no submission {submission_id!r}."
        )
    return record


async def _reachable(request: Request[Any, Any, State], submission_id: str) -> Submission:
    """The stored record, when the request's token reaches its form: 404 when there is none,
    403 ``form_not_allowed`` when it belongs to a form outside the token's forms.
    """
    state = _state(request)
    record = _found(
        await _from_store(load_submission, state.store.redis, submission_id), submission_id
    )
    require_form(staff_token(request), record.form)
    return record


@get(
    "/v1/submissions/{submission_id:str}",
    summary="One submission (staff)",
    responses=problem_responses(400, 404, *GUARD_STATUSES),
    opt={"staff_action": "read"},
    guards=[staff_guard],
)
async def get_submission(
    request: Request[Any, Any, State], submission_id: FromPath[str]
) -> Submission:
    """The stored record: id, form, status, created_at, fields, phone, flags, messages."""
    record = await _reachable(request, submission_id)
    _log(staff_token(request).name, "read", submission_id)
    return record


async def _requeue(
    request: Request[Any, Any, State], submission_id: str, release: bool
) -> Submission:
    name = staff_token(request).name
    state = _state(request)
    stored = await _reachable(request, submission_id)
    kinds: list[MessageKind] = ["staff"]
    skipped: list[MessageState] = []
    if release:
        # A released submission gets every message its form defines, as it would have at intake
        # (no auto-reply for a post not from the form page: frontdesk/submissions/budget.py).
        form = state.forms.get(stored.form)
        if form is not None:
            kinds, states = queued_messages(form.message_kinds(), stored.flags)
            skipped = [s for s in states if s.status == "skipped"]
    try:
        record = await _from_store(
            lambda: state.store.queue_messages(
                submission_id, kinds, release=release, skipped=skipped
            )
        )
    except WrongStatus as exc:
        raise ProblemError(409, "wrong_status", str(exc)) from None
    _log(name, "release" if release else "resend", submission_id)
    return _found(record, submission_id)


@post(
    "/v1/submissions/{submission_id:str}/release",
    status_code=200,
    summary="Release (staff)",
    responses=problem_responses(400, 404, 409, *GUARD_STATUSES),
    opt={"staff_action": "release"},
    guards=[staff_guard],
)
async def release(request: Request[Any, Any, State], submission_id: FromPath[str]) -> Submission:
    """A quarantined submission becomes ``received`` and its staff notification is queued;
    409 ``wrong_status`` when it is not quarantined.
    """
    return await _requeue(request, submission_id, release=True)


@post(
    "/v1/submissions/{submission_id:str}/resend",
    status_code=200,
    summary="Resend (staff)",
    responses=problem_responses(400, 404, 409, *GUARD_STATUSES),
    opt={"staff_action": "resend"},
    guards=[staff_guard],
)
async def resend(request: Request[Any, Any, State], submission_id: FromPath[str]) -> Submission:
    """Queue the staff notification again (its ``sent`` marker cleared); 409 for a quarantined one."""
    return await _requeue(request, submission_id, release=False)


@delete(
    "/v1/submissions/{submission_id:str}",
    status_code=204,
    summary="Delete (staff)",
    responses=problem_responses(400, 404, *GUARD_STATUSES),
    opt={"staff_action": "delete"},
    guards=[staff_guard],
)
async def delete_submission(
    request: Request[Any, Any, State], submission_id: FromPath[str]
) -> None:
    """Delete the record and its index entry; 404 when it does not exist."""
    name = staff_token(request).name
    state = _state(request)
    await _reachable(request, submission_id)
    record = await _from_store(state.store.delete, submission_id)
    _found(record, submission_id)
    _log(name, "delete", submission_id)


def erase(state: FormsState, email: str, forms: Collection[str] | None = None) -> list[str]:
    """Erase every stored submission holding ``email``, of every form ever defined (only ``forms``
    when given), with every copy in Redis (:meth:`SubmissionStore.erase`); returns the erased ids.
    """
    return state.store.erase(email, forms)


# An erasure body is one address: nothing near this is an erasure.
ERASURE_MAX_BODY = 16_384


async def _json_body_only(request: Request[Any, Any, State]) -> None:
    """Before the body is parsed: 415 ``unsupported_media_type`` unless it is
    ``application/json``, 400 ``malformed_json`` unless it is JSON (as the submission route), so
    neither becomes Litestar's generic 400.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ProblemError(415, "unsupported_media_type", "Send application/json.")
    try:
        msgspec.json.decode(await request.body())  # Litestar keeps the bytes for the parsing
    except (msgspec.DecodeError, RecursionError):
        raise ProblemError(400, "malformed_json", "The body is not valid JSON.") from None


@post(
    "/v1/erasures",
    status_code=200,
    summary="Erase a person's submissions (staff)",
    responses=problem_responses(400, 413, 415, *GUARD_STATUSES),
    before_request=_json_body_only,  # runs after the guard: no body is read before the token
    request_max_body_size=ERASURE_MAX_BODY,
    opt={"staff_action": "erase"},
    guards=[staff_guard],
)
async def erasures(
    request: Request[Any, Any, State],
    # The struct refuses unknown fields; its schema says so (Litestar's does not by itself).
    data: Annotated[Erasure, Body(schema_extra={"additionalProperties": False})],
) -> Erased:
    """``{"email": ...}`` → ``{"erased": N}``: every submission with that address is deleted
    (within the token's forms, when it names some).
    """
    token = staff_token(request)
    name = token.name
    state = _state(request)
    ids = await _from_store(erase, state, data.email, token.forms)
    for submission_id in ids:
        _log(name, "erase", submission_id)
    _log(name, "erasure", f"count:{len(ids)}")
    return Erased(erased=len(ids))


@route(
    "/v1/submissions/{submission_id:str}",
    http_method=[HttpMethod.OPTIONS],
    include_in_schema=False,
)
async def submission_options(submission_id: FromPath[str]) -> Response[None]:
    """204 with ``Allow: DELETE, GET, OPTIONS`` (RFC 9110 §9.3.7). Litestar's own OPTIONS handler
    lists only the methods of the first handler registered on a path (GET here), not DELETE.
    """
    return Response(content=None, status_code=204, headers={"Allow": "DELETE, GET, OPTIONS"})


def staff_routes() -> list[HTTPRouteHandler]:
    """The staff routes for the internal app: the OPTIONS handler (no token needed to ask what a
    path allows) first, so Litestar adds none of its own to that path; every other one runs
    :func:`~services.forms.staffauth.staff_guard` first (``guards=`` on each).
    """
    return [
        submission_options,
        list_submissions,
        get_submission,
        release,
        resend,
        delete_submission,
        erasures,
    ]
