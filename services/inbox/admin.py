"""The inbox's admin pages: the audit log (``/audit``), exports (``/export``) and erasure by email
address (``/erase``).

Export and erase take two POSTs: the first shows what will happen (how many inquiries) and
changes nothing; the second, with ``confirm=yes``, does it. Every POST needs this browser's CSRF
token (403 without); the member's role must allow the action (403 otherwise: docs/inbox.md,
roles). Exports reuse the staff API's row writers (frontdesk/submissions/staff/exports.py), CSV
cells keeping its formula-injection defence. Every export and erasure is audited; an erasure's
entry holds the count erased, never the address.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromQuery
from litestar.response import Stream

from frontdesk.cursors import CursorError
from frontdesk.staff_accounts import StaffMember
from frontdesk.submissions.audit import AUDIT_ACTIONS, AuditAction, page_audit, trim_audit
from frontdesk.submissions.erasure import find_by_email
from frontdesk.submissions.staff.exports import csv_rows, in_thread, jsonl_rows
from frontdesk.submissions.staff.queries import scan
from services.inbox.auditing import audited, when
from services.inbox.rendering import (
    Form,
    Granted,
    allowed,
    audit,
    granted,
    render,
    state_of,
)
from services.inbox.state import InboxState

AUDIT_PAGE_SIZE = 50
FORMATS = ("csv", "jsonl")
# The longest address an erasure takes (RFC 5321's path limit): nothing longer is one.
MAX_ADDRESS = 254


@get("/audit", include_in_schema=False)
async def audit_log(
    request: Request[Any, Any, State],
    actor: FromQuery[str] = "",
    action: FromQuery[str] = "",
    cursor: FromQuery[str | None] = None,
) -> Response[Any]:
    """The audit log, newest first, :data:`AUDIT_PAGE_SIZE` a page (``cursor``: the next page),
    only ``actor``'s and ``action``'s entries when given; admins only (403 for other roles).
    """
    member, answer = await allowed(request, "audit")
    if answer is not None:
        return answer
    state = state_of(request)
    connection = state.access.store.redis
    chosen: AuditAction | None = next((a for a in AUDIT_ACTIONS if a == action), None)
    await anyio.to_thread.run_sync(
        trim_audit, connection, state.clock(), state.settings.audit_retention_days
    )
    try:
        found = await anyio.to_thread.run_sync(
            lambda: page_audit(connection, AUDIT_PAGE_SIZE, cursor, actor or None, chosen)
        )
    except CursorError:
        found = await anyio.to_thread.run_sync(
            lambda: page_audit(connection, AUDIT_PAGE_SIZE, None, actor or None, chosen)
        )
    return await render(
        request,
        "audit.html",
        member=member,
        entries=found.entries,
        next_cursor=found.next_cursor,
        actor=actor,
        action=chosen or "",
        actions=AUDIT_ACTIONS,
        when=when,
    )


def _forms_of(state: InboxState, member: StaffMember) -> list[str]:
    """The forms ``member`` may export: every defined form within their forms."""
    return sorted(f for f in state.access.catalog.definitions if member.reaches(f))


def _day(value: str) -> dt.date | None:
    """A ``YYYY-MM-DD`` field; ``None`` when empty; raises ``ValueError`` when malformed."""
    return dt.date.fromisoformat(value) if value.strip() else None


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


@get("/export", include_in_schema=False)
async def export_page(request: Request[Any, Any, State]) -> Response[Any]:
    """The export form: which form, CSV or JSON Lines, an optional date range (UTC days)."""
    member, answer = await allowed(request, "export")
    if answer is not None:
        return answer
    assert member is not None  # allowed() answers unless a member is signed in
    forms = _forms_of(state_of(request), member)
    return await render(request, "export.html", member=member, forms=forms, chosen={}, problem=None)


@post("/export", include_in_schema=False, status_code=200)
async def export(request: Request[Any, Any, State], data: Form) -> Response[Any]:
    """Without ``confirm=yes``: the confirmation page (the form, format, range and how many
    inquiries), nothing else. With it: the file, an attachment, audited. 400 for an unknown form
    or format or a malformed date (the form again, saying what is wrong).
    """
    state = state_of(request)
    checked = await granted(request, data, "export")
    if not isinstance(checked, Granted):
        return checked
    member = checked.member
    forms = _forms_of(state, member)
    form_id, fmt = data.get("form", ""), data.get("format", "")
    problem = None
    since = until = None
    try:
        first, last = _day(data.get("from", "")), _day(data.get("to", ""))
    except ValueError:
        first = last = None
        problem = "Dates are YYYY-MM-DD."
    if form_id not in forms:
        problem = "Choose one of the forms."
    elif fmt not in FORMATS:
        problem = "Choose CSV or JSON Lines."
    elif first and last and last < first:
        problem = "The range ends before it starts."
    if problem is not None:
        chosen = {k: data.get(k, "") for k in ("form", "format", "from", "to")}
        return await render(
            request,
            "export.html",
            status_code=400,
            member=member,
            forms=forms,
            chosen=chosen,
            problem=problem,
        )
    since = _start(first) if first else None
    until = _start(last) + dt.timedelta(days=1) if last else None
    connection = state.access.store.redis
    if data.get("confirm") != "yes":
        count = await anyio.to_thread.run_sync(
            lambda: sum(1 for _ in scan(connection, form_id, None, since, None, until))
        )
        return await render(
            request,
            "export_confirm.html",
            member=member,
            form=form_id,
            format=fmt,
            first=first.isoformat() if first else "",
            last=last.isoformat() if last else "",
            count=count,
        )
    definition = state.access.catalog.definitions[form_id]
    detail = f"{form_id} {fmt}"
    if first or last:
        detail += f" {first or ''}..{last or ''}"
    audit.info("inbox export: %s exported %s", member.address, detail)
    await audited(state, member.address, "export", detail=detail)
    if fmt == "csv":
        rows = csv_rows(connection, definition, None, since, False, until)
        media_type = "text/csv"
    else:
        rows = jsonl_rows(connection, form_id, None, since, until)
        media_type = "application/jsonl"
    return Stream(
        in_thread(rows),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{form_id}-submissions.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@get("/erase", include_in_schema=False)
async def erase_page(request: Request[Any, Any, State]) -> Response[Any]:
    """The erasure form: one email address."""
    member, answer = await allowed(request, "erase")
    if answer is not None:
        return answer
    return await render(request, "erase.html", member=member, problem=None)


@post("/erase", include_in_schema=False, status_code=200)
async def erase(request: Request[Any, Any, State], data: Form) -> Response[Any]:
    """Without ``confirm=yes``: how many inquiries (within the member's forms) hold the address,
    nothing erased. With it: erase them (every copy in Redis, their ids in the audit log too) and
    show the count; the audit entry holds the count, never the address. 400 for no address.
    """
    state = state_of(request)
    checked = await granted(request, data, "erase")
    if not isinstance(checked, Granted):
        return checked
    member = checked.member
    email = data.get("email", "").strip()
    if "@" not in email or len(email) > MAX_ADDRESS:
        return await render(
            request,
            "erase.html",
            status_code=400,
            member=member,
            problem="Type the email address whose inquiries should be erased.",
        )
    connection = state.access.store.redis
    if data.get("confirm") != "yes":
        found = await anyio.to_thread.run_sync(find_by_email, connection, email, member.forms)
        return await render(
            request, "erase_confirm.html", member=member, email=email, count=len(found)
        )
    ids = await anyio.to_thread.run_sync(state.access.store.erase, email, member.forms)
    audit.info("inbox erase: %s erased %d inquiries", member.address, len(ids))
    await audited(state, member.address, "erase", detail=str(len(ids)))
    return await render(request, "erase_done.html", member=member, count=len(ids))


ROUTES = [audit_log, export_page, export, erase_page, erase]
