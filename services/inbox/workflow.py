"""The inbox's workflow routes: an inquiry's status, its assignee and internal notes.

- ``POST /inquiries/{id}/status`` (field ``status``), ``POST /inquiries/{id}/assignee`` (field
  ``assignee``: a staff address or empty): action ``workflow``;
- ``POST /inquiries/{id}/notes`` (field ``text``): action ``note``.

Each POST carries the CSRF token (403 without), needs a role that allows the action (403) and an
inquiry on a form the member sees (404 otherwise, as the detail page). A change the workflow
refuses answers 409 (the inquiry's state) or 422 (the value) with a sentence for staff. Done, an
htmx request (``HX-Request: true``) gets the panel (templates/_workflow.html) back to swap in; a
plain form post gets 303 to the detail page. The rules are in :mod:`frontdesk.submissions.workflow`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

import anyio
from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect

from frontdesk.staff_accounts import StaffMember
from frontdesk.submissions import workflow
from frontdesk.submissions.audit import AuditEntry, record_audit
from frontdesk.submissions.record import Submission
from services.inbox.rendering import (
    Form,
    Granted,
    audit,
    granted,
    is_htmx,
    not_found,
    reachable,
    render,
    state_of,
)

WorkAction = Literal["workflow", "note"]
"""The actions of this module: each is a role action (frontdesk/staff_accounts.py) and an audited one."""


async def _panel_answer(
    request: Request[Any, Any, State],
    member: StaffMember,
    submission: Submission,
    status_code: int = 200,
    problem: str | None = None,
) -> Response[str]:
    """The workflow panel alone (an htmx swap), with ``problem`` shown when given."""
    state = state_of(request)
    response = await render(
        request,
        "_workflow.html",
        status_code=status_code,
        member=member,
        s=submission,
        workflow=workflow.panel(submission, member, state.staff),
        problem=problem,
    )
    response.headers["Vary"] = "HX-Request"
    return response


async def _apply(
    request: Request[Any, Any, State],
    data: dict[str, str],
    submission_id: str,
    action: WorkAction,
    mutate: Callable[[Submission, StaffMember], object],
    detail: str | None = None,
) -> Response[Any]:
    """Check the CSRF token, the role and the inquiry; run ``mutate`` on the record in one atomic
    update; audit it (``detail``: a staff-chosen value, never visitor data) and answer.
    """
    state = state_of(request)
    checked = await granted(request, data, action)
    if not isinstance(checked, Granted):
        return checked
    member = checked.member
    connection = state.access.store.redis
    try:
        updated = await anyio.to_thread.run_sync(
            workflow.change, connection, submission_id, member, lambda s: mutate(s, member)
        )
    except workflow.WorkflowRefused as refusal:
        return await _refusal(request, member, submission_id, refusal)
    if updated is None:
        return await not_found(request, member)
    entry = AuditEntry(
        at=state.clock(),
        actor=member.address,
        action=action,
        submission_id=updated.id,
        detail=detail,
    )
    await anyio.to_thread.run_sync(
        record_audit, connection, entry, state.settings.audit_retention_days
    )
    audit.info("inbox %s: %s changed submission %s", action, member.address, updated.id)
    if is_htmx(request):
        return await _panel_answer(request, member, updated)
    return Redirect(f"/inquiries/{updated.id}", status_code=303)


async def _refusal(
    request: Request[Any, Any, State],
    member: StaffMember,
    submission_id: str,
    refusal: workflow.WorkflowRefused,
) -> Response[str]:
    """409 or 422 with the refusal's sentence: the panel for htmx, a page otherwise."""
    status_code = 409 if refusal.conflict else 422
    if is_htmx(request):
        current = await reachable(request, member, submission_id)
        if current is not None:
            return await _panel_answer(request, member, current, status_code, str(refusal))
    return await render(
        request,
        "workflow_refused.html",
        status_code=status_code,
        member=member,
        submission_id=submission_id,
        text=str(refusal),
    )


@post("/inquiries/{submission_id:str}/status", include_in_schema=False, status_code=200)
async def set_status(
    request: Request[Any, Any, State], submission_id: FromPath[str], data: Form
) -> Response[Any]:
    """Set the inquiry's status (field ``status``: new, in_progress, answered or closed)."""
    wanted = data.get("status", "")
    detail = f"status:{wanted}" if wanted in workflow.STATUSES else None
    return await _apply(
        request,
        data,
        submission_id,
        "workflow",
        lambda s, _member: workflow.set_status(s, wanted),
        detail,
    )


@post("/inquiries/{submission_id:str}/assignee", include_in_schema=False, status_code=200)
async def set_assignee(
    request: Request[Any, Any, State], submission_id: FromPath[str], data: Form
) -> Response[Any]:
    """Assign the inquiry to a staff address that sees its form (field ``assignee``), or to no one
    (empty).
    """
    staff = state_of(request).staff
    wanted = data.get("assignee", "").strip().lower()
    # Only a staff address goes into the audit entry: anything else is refused anyway.
    detail = f"assignee:{wanted}" if not wanted or wanted in staff else None
    return await _apply(
        request,
        data,
        submission_id,
        "workflow",
        lambda s, _member: workflow.assign(s, wanted, staff),
        detail,
    )


@post("/inquiries/{submission_id:str}/notes", include_in_schema=False, status_code=200)
async def add_note(
    request: Request[Any, Any, State], submission_id: FromPath[str], data: Form
) -> Response[Any]:
    """Add an internal note (field ``text``, 1 to 4,000 characters); never sent to the visitor."""
    state = state_of(request)
    text = data.get("text", "")
    now = dt.datetime.fromtimestamp(state.clock(), dt.UTC)
    return await _apply(
        request,
        data,
        submission_id,
        "note",
        lambda s, member: workflow.add_note(s, member.address, text, now),
    )


ROUTES = [set_status, set_assignee, add_note]
