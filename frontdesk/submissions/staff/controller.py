"""The staff API: list and export, read, release, resend, delete, erase — :func:`staff_router`.

A service mounts the routes with ``staff_router(context)`` among its route handlers, ``context``
being its :class:`~frontdesk.submissions.staff.context.StaffContext` (the forms service does so on
its internal port). Every route but ``OPTIONS`` runs the guard of
:mod:`frontdesk.submissions.staff.auth` first — throttle, ``Authorization: Bearer <token>``
(RFC 6750) against the context's staff tokens, the token's forms and actions — before its
parameters or body are read. Every action writes one audit line (logger ``frontdesk.audit``: token
name, action, submission id or form) and never visitor data; a read of one submission, an export,
a release, a resend, a delete and an erasure also write an audit log entry
(:mod:`frontdesk.submissions.audit`, actor = the token's name; a delete's entry names the
submission ``"erased"``, an erasure's names none and its detail is the count erased). The
mounting app answers every route ``no-store`` (the forms internal app's
:class:`~frontdesk.internal.NoStore`) and turns :class:`~frontdesk.problems.ProblemError` into
problem+json (:func:`~frontdesk.problems.exception_handlers`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar

import anyio
import msgspec
import redis
from litestar import Controller, HttpMethod, Request, Response, Router, delete, get, post, route
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body, FromPath, FromQuery, SkipValidation
from litestar.response import Stream

from frontdesk.cursors import CursorError, decode_position
from frontdesk.problems import ProblemError, on_http_exception, problem_response, problem_responses
from frontdesk.staff_tokens import StaffToken
from frontdesk.submissions.audit import ERASED, AuditAction, AuditEntry, record_audit
from frontdesk.submissions.problems import (
    form_not_found,
    store_unavailable,
    submission_not_found,
)
from frontdesk.submissions.record import MessageKind, Submission, SubmissionStatus
from frontdesk.submissions.staff.auth import require_form, staff_guard, staff_token
from frontdesk.submissions.staff.context import StaffContext
from frontdesk.submissions.staff.exports import csv_rows, in_thread, jsonl_rows
from frontdesk.submissions.staff.queries import page
from frontdesk.submissions.staff.schemas import Erased, Erasure, Page, StaffListOperation
from frontdesk.submissions.store import StoreUnavailable, WrongStatus, load_submission

audit = logging.getLogger("frontdesk.audit")

# Dependencies the router provides: the mounting service's context and the guard's token.
# Neither is validated (they are objects the app built, not request data).
Context = SkipValidation[StaffContext]
Token = SkipValidation[StaffToken]

BAD_LIMIT = ("bad_limit", "limit must be from 1 to 100.")
BAD_SINCE = ("bad_since", "since must be an RFC 3339 time with an offset.")
# A query value Litestar cannot convert gets the same code as one out of range: limit=abc is
# bad_limit as limit=0 is, since=...-24:00 is bad_since as a time without offset is.
_PARAMETER_CODES = {"limit": BAD_LIMIT, "since": BAD_SINCE}

# What every staff route can answer besides its own: the guard's 401, 403, 429 and 503.
GUARD_STATUSES = (401, 403, 429, 503)

# An erasure body is one address: nothing near this is an erasure.
ERASURE_MAX_BODY = 16_384

T = TypeVar("T")


def _log(name: str, action: str, target: str) -> None:
    audit.info("staff=%s action=%s target=%s", name, action, target)


async def _record(
    staff: StaffContext,
    token: StaffToken,
    action: AuditAction,
    submission_id: str | None = None,
    detail: str | None = None,
) -> None:
    """An audit log entry of ``token``'s ``action`` (503 problem+json when Redis fails)."""
    entry = AuditEntry(
        at=staff.clock(),
        actor=token.name,
        action=action,
        submission_id=submission_id,
        detail=detail,
    )
    await _from_store(record_audit, staff.store.redis, entry, staff.audit_retention_days)


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


async def _from_store(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in a worker thread (blocking Redis I/O); 503 problem+json when Redis fails."""
    try:
        return await anyio.to_thread.run_sync(call, *args)
    except (StoreUnavailable, redis.RedisError):
        raise store_unavailable() from None


def _found(record: Submission | None, submission_id: str) -> Submission:
    if record is None:
        raise submission_not_found(submission_id)
    return record


async def _reachable(staff: StaffContext, token: StaffToken, submission_id: str) -> Submission:
    """The stored record, when ``token`` reaches its form: 404 when there is none, 403
    ``form_not_allowed`` when it belongs to a form outside the token's forms.
    """
    record = _found(
        await _from_store(load_submission, staff.store.redis, submission_id), submission_id
    )
    require_form(token, record.form)
    return record


async def _requeue(
    staff: StaffContext,
    token: StaffToken,
    submission_id: str,
    release: bool,
    asked: Sequence[MessageKind] = ("staff",),
) -> Submission:
    stored = await _reachable(staff, token, submission_id)
    kinds: list[MessageKind] = list(dict.fromkeys(asked))
    form = staff.forms.get(stored.form)
    defined = set(form.message_kinds() if form is not None else []) | {
        m.kind for m in stored.messages
    }
    unknown = [k for k in kinds if k != "staff" and k not in defined]
    if unknown:
        raise ProblemError(
            409,
            "wrong_status",
            f"submission has no {', '.join(unknown)} message (its form does not define one)",
        )
    try:
        record = await _from_store(
            lambda: (
                staff.store.release(stored, form)
                if release
                else staff.store.queue_messages(submission_id, kinds, release=False)
            )
        )
    except WrongStatus as exc:
        raise ProblemError(409, "wrong_status", str(exc)) from None
    _log(token.name, "release" if release else "resend", submission_id)
    found = _found(record, submission_id)
    await _record(staff, token, "release" if release else "resend", submission_id)
    return found


def _submission_route(
    handler: type[HTTPRouteHandler],
    action: str,
    summary: str,
    path: str = "",
    *,
    conflict: bool = False,
    **options: Any,
) -> HTTPRouteHandler:
    """The decorator of a route on one submission, ``/v1/submissions/{submission_id}`` + ``path``
    (``handler``: ``get``, ``post`` or ``delete``): 400 for a malformed id, 404 for one that does
    not exist or is outside the token's forms, 409 with ``conflict`` (the record's status does not
    allow ``action``), the guard's statuses; ``action`` is what the guard checks and audits.
    """
    statuses = (409,) if conflict else ()
    return handler(
        f"/v1/submissions/{{submission_id:str}}{path}",
        summary=summary,
        responses=problem_responses(400, 404, *statuses, *GUARD_STATUSES),
        opt={"staff_action": action},
        **options,
    )


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


class StaffController(Controller):
    """The staff routes; each names its action in ``opt["staff_action"]`` for the guard. Mounted
    through :func:`staff_router`, which guards them and provides the ``staff`` (context) and
    ``token`` (the accepted :class:`~frontdesk.staff_tokens.StaffToken`) dependencies.
    """

    @get(
        "/v1/forms/{form_id:str}/submissions",
        summary="List or export a form's submissions (staff)",
        operation_class=StaffListOperation,
        responses=problem_responses(400, 404, *GUARD_STATUSES),
        exception_handlers={ValidationException: _list_parameter_problem},
        opt={"staff_action": "read"},  # the guard makes format=csv|jsonl "export"
    )
    async def list_submissions(
        self,
        staff: Context,
        token: Token,
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
        form = staff.forms.get(form_id)
        if form is None:
            raise form_not_found(form_id)
        if not 1 <= limit <= 100:
            raise ProblemError(400, *BAD_LIMIT)
        if since is not None and since.tzinfo is None:
            raise ProblemError(400, *BAD_SINCE)
        _log(token.name, f"list:{format}", f"form:{form_id}")
        connection = staff.store.redis
        if format != "json":
            await _record(staff, token, "export", detail=f"{form_id} {format}")
        if format == "csv":
            disposition = f'attachment; filename="{form_id}-submissions.csv"'
            return Stream(
                in_thread(csv_rows(connection, form, status, since, bom)),
                media_type="text/csv",  # Litestar adds "; charset=utf-8" to text/* types
                headers={"Content-Disposition": disposition},
            )
        if format == "jsonl":
            return Stream(
                in_thread(jsonl_rows(connection, form_id, status, since)),
                media_type="application/jsonl",
            )
        try:
            position = decode_position(cursor) if cursor else None
        except CursorError:
            raise ProblemError(
                400, "bad_cursor", "The cursor is not one this API gave out."
            ) from None
        found: Page = await _from_store(page, connection, form_id, limit, position, status, since)
        return Response(content=found)

    @_submission_route(get, "read", "One submission (staff)")
    async def get_submission(
        self, staff: Context, token: Token, submission_id: FromPath[str]
    ) -> Submission:
        """The stored record: id, form, status, created_at, fields, phone, flags, messages."""
        record = await _reachable(staff, token, submission_id)
        _log(token.name, "read", submission_id)
        await _record(staff, token, "view", submission_id)
        return record

    @_submission_route(
        post, "release", "Release (staff)", "/release", status_code=200, conflict=True
    )
    async def release(
        self, staff: Context, token: Token, submission_id: FromPath[str]
    ) -> Submission:
        """A quarantined submission becomes ``received`` and its staff notification is queued;
        409 ``wrong_status`` when it is not quarantined.
        """
        return await _requeue(staff, token, submission_id, release=True)

    @_submission_route(post, "resend", "Resend (staff)", "/resend", status_code=200, conflict=True)
    async def resend(
        self,
        staff: Context,
        token: Token,
        submission_id: FromPath[str],
        kind: FromQuery[list[MessageKind] | None] = None,
    ) -> Submission:
        """Queue messages again (their ``sent`` markers cleared): ``kind`` (repeatable: ``staff``,
        ``auto_reply``, ``webhook``, ``chat_1`` … ``chat_4``), default the staff notification;
        409 for a quarantined one or a kind its form does not define.
        """
        return await _requeue(staff, token, submission_id, False, kind or ["staff"])

    @_submission_route(delete, "delete", "Delete (staff)", status_code=204)
    async def delete_submission(
        self, staff: Context, token: Token, submission_id: FromPath[str]
    ) -> None:
        """Delete the record and its index entry; 404 when it does not exist."""
        await _reachable(staff, token, submission_id)
        record = await _from_store(staff.store.delete, submission_id)
        _found(record, submission_id)
        _log(token.name, "delete", submission_id)
        # The store rewrote the id to "erased" in the log; the deletion's own entry names no id.
        await _record(staff, token, "delete", ERASED, detail="1")

    @post(
        "/v1/erasures",
        status_code=200,
        summary="Erase a person's submissions (staff)",
        responses=problem_responses(400, 413, 415, *GUARD_STATUSES),
        before_request=_json_body_only,  # runs after the guard: no body is read before the token
        request_max_body_size=ERASURE_MAX_BODY,
        opt={"staff_action": "erase"},
    )
    async def erasures(
        self,
        staff: Context,
        token: Token,
        # The struct refuses unknown fields; its schema says so (Litestar's does not by itself).
        data: Annotated[Erasure, Body(schema_extra={"additionalProperties": False})],
    ) -> Erased:
        """``{"email": ...}`` → ``{"erased": N}``: every submission with that address, of every
        form ever defined, is erased with every copy in Redis (``SubmissionStore.erase``) — within
        the token's forms, when it names some.
        """
        ids = await _from_store(staff.store.erase, data.email, token.forms)
        for submission_id in ids:
            _log(token.name, "erase", submission_id)
        _log(token.name, "erasure", f"count:{len(ids)}")
        await _record(staff, token, "erase", detail=str(len(ids)))
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


def staff_router(context: StaffContext) -> Router:
    """The staff routes over ``context``, to put among an app's ``route_handlers`` (paths from the
    root: ``/v1/forms/{form_id}/submissions``, ``/v1/submissions/{id}[/release|/resend]``,
    ``/v1/erasures``).

    The OPTIONS handler (no token needed to ask what a path allows) comes first, so Litestar adds
    none of its own to that path; every other route is :class:`StaffController`'s, in an inner
    router guarded by :func:`~frontdesk.submissions.staff.auth.staff_guard` over ``context``.
    """

    def provide_context() -> StaffContext:
        return context

    guarded = Router(
        path="/",
        route_handlers=[StaffController],
        guards=[staff_guard(context)],
        dependencies={
            "staff": Provide(provide_context, use_cache=True, sync_to_thread=False),
            "token": Provide(staff_token, sync_to_thread=False),
        },
    )
    return Router(path="/", route_handlers=[submission_options, guarded])
