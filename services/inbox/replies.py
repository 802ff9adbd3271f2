"""Replying to a visitor from the inbox: ``POST /inquiries/{id}/replies`` (field ``text``).

Action ``reply`` (responders and admins; a reader gets 403), with this browser's CSRF token. The
reply is recorded on the inquiry with its delivery state, the inquiry becomes answered and the
send job is queued, in one atomic update (frontdesk/submissions/replies.py); the worker emails it
from the form's sender, signed with the member's name, Reply-To the form's staff mailbox. The
audit log gets who replied to which inquiry, never the text.

Answers: htmx (``HX-Request: true``) gets the replies partial (``_replies.html``) and the
workflow panel out of band, now answered (``_reply_answer.html``), or the replies partial with a
refusal written in it; without JavaScript, 303 back to the inquiry, or a page saying why the
reply was refused (409 quarantined, 422 no email address or a bad text) with the text kept for
another try.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect

from frontdesk.staff_accounts import StaffMember
from frontdesk.submissions import workflow
from frontdesk.submissions.audit import AuditEntry, record_audit
from frontdesk.submissions.record import Reply, Submission
from frontdesk.submissions.replies import ReplyRefused, record_reply
from services.inbox.rendering import (
    Form,
    GrantedOn,
    audit,
    granted_on,
    is_htmx,
    not_found,
    render,
    state_of,
)


def _field_types(request: Request[Any, Any, State], submission: Submission) -> dict[str, str]:
    """Field name → type of the inquiry's form (what the replies partial reads to find the
    visitor's address); empty when the form is no longer defined.
    """
    definition = state_of(request).access.catalog.definitions.get(submission.form)
    return {f.name: f.type for f in definition.fields} if definition else {}


async def _refusal(
    request: Request[Any, Any, State],
    member: StaffMember,
    submission: Submission,
    problem: str,
    text: str,
) -> Response[str]:
    """The refusal of a reply: the partial with ``problem`` for htmx (200: htmx swaps no error
    answer), else a page (409 for a quarantined inquiry, 422 otherwise) keeping ``text``.
    """
    values: dict[str, Any] = {
        "member": member,
        "s": submission,
        "types": _field_types(request, submission),
        "reply_problem": problem,
        "reply_text": text,
    }
    if is_htmx(request):
        return await render(request, "_replies.html", **values)
    status = 409 if submission.status == "quarantined" else 422
    return await render(request, "reply_refused.html", status_code=status, **values)


@post("/inquiries/{submission_id:str}/replies", include_in_schema=False, status_code=200)
async def reply(
    request: Request[Any, Any, State], submission_id: FromPath[str], data: Form
) -> Response[Any]:
    """Record and queue a reply to the inquiry (module docstring); 403 without the CSRF token or
    the ``reply`` action, 404 when the inquiry is gone or outside the member's forms.
    """
    state = state_of(request)
    checked = await granted_on(request, data, "reply", submission_id)
    if not isinstance(checked, GrantedOn):
        return checked
    member, found = checked
    connection = state.access.store.redis
    text = data.get("text", "")
    form = state.access.catalog.definitions.get(found.form)
    if form is None:
        problem = "This inquiry's form is no longer defined: there is no sender to reply from."
        return await _refusal(request, member, found, problem, text)
    now = dt.datetime.fromtimestamp(state.clock(), dt.UTC)

    def write() -> tuple[Submission, Reply] | None:
        return record_reply(
            connection,
            state.access.store.jobs,
            form,
            submission_id,
            author=member.address,
            signature=member.signature,
            text=text,
            now=now,
        )

    try:
        recorded = await anyio.to_thread.run_sync(write)
    except ReplyRefused as exc:
        return await _refusal(request, member, found, str(exc), text)
    if recorded is None:
        return await not_found(request, member)
    updated, _ = recorded
    entry = AuditEntry(
        at=state.clock(), actor=member.address, action="reply", submission_id=updated.id
    )
    await anyio.to_thread.run_sync(
        record_audit, connection, entry, state.settings.audit_retention_days
    )
    audit.info("inbox reply: %s replied to submission %s", member.address, updated.id)
    if is_htmx(request):
        # The reply made the inquiry answered: the workflow panel comes along (out of band) so
        # its status and status choices are not left showing the old status.
        return await render(
            request,
            "_reply_answer.html",
            member=member,
            s=updated,
            types=_field_types(request, updated),
            workflow=workflow.panel(updated, member, state.staff),
        )
    return Redirect(f"/inquiries/{updated.id}", status_code=303)


ROUTES = [reply]
