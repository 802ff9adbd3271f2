"""The inbox's HTML routes: sign-in, the link, sign-out, the inquiry detail (the list:
services/inbox/listing.py).

Every page is rendered by Jinja2 with autoescape; state changes are POSTs carrying the CSRF token
(:mod:`services.inbox.sessions`). Pages for signed-in staff redirect to ``/sign-in`` without a
session. Answers are ``no-store`` and carry the CSP (services/inbox/app.py).
"""

from __future__ import annotations

import zoneinfo
from typing import Any

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from frontdesk.submissions import workflow
from services.inbox import sessions
from services.inbox.auditing import audited, trail_of
from services.inbox.rendering import (
    Form,
    audit,
    client_of,
    member_of,
    message,
    not_found,
    reachable,
    refused,
    render,
    signed_in,
    site_zone,
    state_of,
    to_sign_in,
)
from services.inbox.sessions import BROWSER_COOKIE, PENDING_COOKIE, SESSION_COOKIE
from services.inbox.twostep import TwoStep


@get("/", include_in_schema=False)
async def home() -> Redirect:
    """To the inquiry list."""
    return Redirect("/inquiries", status_code=303)


@get("/sign-in", include_in_schema=False)
async def sign_in_page(request: Request[Any, Any, State]) -> Response[str]:
    """The address form."""
    return await render(request, "sign_in.html", problem=None)


@post("/sign-in", include_in_schema=False, status_code=200)
async def ask_for_link(request: Request[Any, Any, State], data: Form) -> Response[str]:
    """Queue a sign-in link for the address (known or not: the same page, the same work); 403
    without the CSRF token, 429 past the throttle.
    """
    state = state_of(request)
    if not await sessions.csrf_ok(state, request, data.get("_csrf")):
        return await refused(request)
    address = data.get("address", "").strip().lower()
    browser_id = sessions.cookie_of(state, request, BROWSER_COOKIE)
    if not address or not browser_id:
        return await render(
            request, "sign_in.html", status_code=400, problem="Type your email address."
        )
    limits = sessions.sign_in_limits(state, address, client_of(state, request))
    wait = await state.limiter.hit(limits, state.clock())
    if wait:
        response = await message(
            request,
            429,
            "Too many sign-in links",
            f"Too many links were asked for. Try again in {max(1, wait // 60)} minutes.",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    await sessions.ask_for_link(state, address, browser_id)
    return await render(request, "check_mail.html")


@get("/sign-in/link", include_in_schema=False)
async def use_link(request: Request[Any, Any, State], token: FromQuery[str] = "") -> Response[Any]:
    """Sign in with a link from the mail: a session cookie and 303 to the list; 400 when the link
    is forged, expired, used or from another browser (one answer for all). An account with
    two-step sign-in on, or required (``:totp``) and not yet enrolled, gets a pending sign-in
    instead and 303 to ``/sign-in/code`` (services/inbox/accounts.py).
    """
    state = state_of(request)
    browser_id = sessions.cookie_of(state, request, BROWSER_COOKIE)
    address = await sessions.use_link(state, token, browser_id)
    if address is None:
        return await message(
            request,
            400,
            "This link cannot be used",
            "Sign-in links work once, for 15 minutes, in the browser that asked for them.",
        )
    member = state.staff[address]
    on = await TwoStep(state).is_on(address)
    if browser_id and (on or member.totp):
        pending_id = await sessions.open_pending(state, address, browser_id, enrol=not on)
        audit.info("inbox sign-in link used, two-step code awaited: %s", address)
        return Redirect(
            "/sign-in/code",
            status_code=303,
            cookies=[sessions.cookie(state, PENDING_COOKIE, pending_id)],
        )
    return await signed_in(request, address)


@post("/sign-out", include_in_schema=False)
async def sign_out(request: Request[Any, Any, State], data: Form) -> Response[Any]:
    """End this browser's session."""
    state = state_of(request)
    if not await sessions.csrf_ok(state, request, data.get("_csrf")):
        return await refused(request)
    session_id = sessions.cookie_of(state, request, SESSION_COOKIE)
    if session_id:
        await sessions.end_session(state, session_id)
    response = to_sign_in()
    response.cookies.append(sessions.expired(state, SESSION_COOKIE))
    return response


@post("/sign-out/everywhere", include_in_schema=False)
async def sign_out_everywhere(request: Request[Any, Any, State], data: Form) -> Response[Any]:
    """End every session of the signed-in address."""
    state = state_of(request)
    if not await sessions.csrf_ok(state, request, data.get("_csrf")):
        return await refused(request)
    member = await member_of(request)
    if member is not None:
        ended = await sessions.end_every_session(state, member.address)
        audit.info("inbox sign-out everywhere: %s (%d sessions)", member.address, ended)
        await audited(state, member.address, "sign_out_everywhere", detail=str(ended))
    response = to_sign_in()
    response.cookies.append(sessions.expired(state, SESSION_COOKIE))
    return response


@get("/inquiries/{submission_id:str}", include_in_schema=False)
async def inquiry(request: Request[Any, Any, State], submission_id: FromPath[str]) -> Response[Any]:
    """One inquiry with every field and its audit trail (this view included); 404 when gone or
    outside the member's forms.
    """
    member = await member_of(request)
    if member is None:
        return to_sign_in()
    state = state_of(request)
    found = await reachable(request, member, submission_id)
    if found is None:
        return await not_found(request, member)
    audit.info("inbox view: %s viewed submission %s", member.address, found.id)
    await audited(state, member.address, "view", found.id)
    if member.address not in found.read_by:
        # The list's unread markers read this; written once per member, atomically.
        read = await anyio.to_thread.run_sync(
            workflow.change,
            state.access.store.redis,
            found.id,
            member,
            lambda s: workflow.mark_read(s, member.address),
        )
        found = read or found
    definition = state.access.catalog.definitions.get(found.form)
    fields = definition.fields if definition else []
    return await render(
        request,
        "detail.html",
        member=member,
        s=found,
        types={f.name: f.type for f in fields},
        labels={f.name: f.label for f in fields},
        trail=await trail_of(state, found.id),
        workflow=workflow.panel(found, member, state.staff),
        tz=zoneinfo.ZoneInfo(site_zone(state)),
    )


ROUTES = [
    home,
    sign_in_page,
    ask_for_link,
    use_link,
    sign_out,
    sign_out_everywhere,
    inquiry,
]
