"""Inbox accounts: two-step sign-in (TOTP) enrolment, the code step of signing in, admin reset.

- ``GET /account``: any signed-in member; their two-step state, the secret and ``otpauth://`` URI
  while enrolling, and for admins every member's state with a reset button.
- ``POST /account/totp`` (start: a new secret), ``/account/totp/confirm`` (field ``code``: turns
  it on), ``/account/totp/off`` (field ``code``; refused when ops require it) and
  ``/account/totp/reset`` (field ``address``; action ``accounts``: admins): every one with the
  CSRF token, answering 303 to ``/account`` (or the page again with the problem, 400).
- ``GET /account/totp/qr.svg`` and ``GET /sign-in/code/qr.svg``: the QR code of the
  ``otpauth://`` URI being enrolled (404 when nothing is), an SVG from the inbox's own origin.
- ``GET /sign-in/code`` and ``POST /sign-in/code`` (field ``code``): a pending sign-in
  (services/inbox/sessions.py) enters its code, or first enrols when ops require two-step sign-in
  of an account without it; a right code opens the session.

Wrong codes are counted per address (``FRONTDESK_INBOX_TOTP_FAILURES`` per 15 minutes); past it
every code is refused (429) until the window ends. Turning on, off and a reset are audited
(action ``totp``, detail ``on``/``off``/``reset:<member's address>``); neither the secret nor a
code is ever in an audit entry or a log line.
"""

from __future__ import annotations

from typing import Any, Literal

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Redirect

from frontdesk.staff_accounts import StaffMember
from frontdesk.submissions.audit import AuditEntry, record_audit
from services.inbox import sessions
from services.inbox.rendering import (
    Form,
    Granted,
    audit,
    granted,
    member_of,
    refused,
    render,
    signed_in,
    state_of,
    to_sign_in,
)
from services.inbox.sessions import BROWSER_COOKIE, PENDING_COOKIE, PendingRecord
from services.inbox.state import InboxState
from services.inbox.twostep import TwoStep, failure_limit, grouped, otpauth_uri, qr_svg

WRONG_CODE = "That code is not right (or was used already). Enter the current one."


def to_account() -> Redirect:
    """303 to the account page."""
    return Redirect("/account", status_code=303)


async def record(
    state: InboxState, actor: str, detail: Literal["on", "off", "reset"], member: str = ""
) -> None:
    """Audit a two-step change by ``actor`` (never a secret or a code); a reset names the
    ``member`` whose two-step sign-in it reset (detail ``reset:<address>``, as an assignee is
    named), so the log says whose second factor an admin removed, not only that one was.
    """
    named = f"{detail}:{member}" if member else detail
    entry = AuditEntry(at=state.clock(), actor=actor, action="totp", detail=named)
    retention = state.settings.audit_retention_days
    await anyio.to_thread.run_sync(record_audit, state.access.store.redis, entry, retention)


async def throttled(state: InboxState, address: str) -> int:
    """Seconds until ``address`` may enter a code again (0: now)."""
    return await state.limiter.check([failure_limit(state, address)], [], state.clock())


async def count_failure(state: InboxState, address: str) -> None:
    """Count one wrong code of ``address``."""
    await state.limiter.hit([failure_limit(state, address)], state.clock())


async def too_many(request: Request[Any, Any, State], wait: int, **values: Any) -> Response[str]:
    """429: too many wrong codes, with ``Retry-After``."""
    response = await render(
        request,
        "message.html",
        status_code=429,
        heading="Too many wrong codes",
        text=f"Too many wrong codes were entered. Try again in {max(1, wait // 60)} minutes.",
        **values,
    )
    response.headers["Retry-After"] = str(wait)
    return response


async def account_page(
    request: Request[Any, Any, State],
    member: StaffMember,
    status_code: int = 200,
    problem: str | None = None,
) -> Response[str]:
    """The account page of ``member``."""
    state = state_of(request)
    twostep = TwoStep(state)
    on = await twostep.is_on(member.address)
    secret = None if on else await twostep.enrolling(member.address)
    staff = None
    if member.may("accounts"):
        staff = await twostep.accounts_on(sorted(state.staff))
    return await render(
        request,
        "account.html",
        status_code=status_code,
        member=member,
        on=on,
        required=member.totp,
        enrolment=enrolment(state, member.address, secret, "/account/totp/qr.svg"),
        staff=staff,
        problem=problem,
    )


def enrolment(
    state: InboxState, address: str, secret: str | None, qr: str
) -> dict[str, str] | None:
    """What the enrolment partial shows of ``secret``: grouped, as its URI and the path of its QR
    code ``qr``.
    """
    if secret is None:
        return None
    return {"grouped": grouped(secret), "uri": otpauth_uri(state, address, secret), "qr": qr}


async def qr_of(state: InboxState, address: str) -> Response[bytes]:
    """The QR code of the URI ``address`` is enrolling with; 404 when it enrols nothing."""
    secret = await TwoStep(state).enrolling(address)
    if secret is None:
        return Response(b"", status_code=404, media_type="text/plain")
    return Response(qr_svg(otpauth_uri(state, address, secret)), media_type="image/svg+xml")


@get("/account/totp/qr.svg", include_in_schema=False)
async def account_qr(request: Request[Any, Any, State]) -> Response[Any]:
    """The QR code of the signed-in member's enrolment."""
    member = await member_of(request)
    if member is None:
        return to_sign_in()
    return await qr_of(state_of(request), member.address)


@get("/account", include_in_schema=False)
async def account(request: Request[Any, Any, State]) -> Response[Any]:
    """The signed-in member's account page."""
    member = await member_of(request)
    if member is None:
        return to_sign_in()
    return await account_page(request, member)


async def checked_member(
    request: Request[Any, Any, State], data: dict[str, str]
) -> tuple[StaffMember | None, Response[Any] | None]:
    """The signed-in member of a POST carrying the CSRF token, else the answer to send."""
    state = state_of(request)
    if not await sessions.csrf_ok(state, request, data.get("_csrf")):
        return None, await refused(request)
    member = await member_of(request)
    if member is None:
        return None, to_sign_in()
    return member, None


@post("/account/totp", include_in_schema=False)
async def start(request: Request[Any, Any, State], data: Form) -> Response[Any]:
    """Start (or restart) enrolment: a new secret to confirm."""
    member, answer = await checked_member(request, data)
    if member is None:
        return answer or to_sign_in()
    await TwoStep(state_of(request)).start(member.address)
    return to_account()


async def code_step(
    request: Request[Any, Any, State], address: str, code: str, on: bool
) -> Literal["ok", "wrong"] | int:
    """Check ``code`` of ``address`` past the wrong-code throttle (an int: seconds to wait);
    ``on``: against the confirmed secret, else the one being enrolled, which it then turns on.
    """
    state = state_of(request)
    wait = await throttled(state, address)
    if wait:
        return wait
    twostep = TwoStep(state)
    right = await (twostep.accept(address, code, on=True) if on else twostep.turn_on(address, code))
    if not right:
        await count_failure(state, address)
        return "wrong"
    return "ok"


@post("/account/totp/confirm", include_in_schema=False)
async def confirm(request: Request[Any, Any, State], data: Form) -> Response[Any]:
    """Turn two-step sign-in on with a right code of the secret being enrolled."""
    member, answer = await checked_member(request, data)
    if member is None:
        return answer or to_sign_in()
    outcome = await code_step(request, member.address, data.get("code", ""), on=False)
    if isinstance(outcome, int):
        return await too_many(request, outcome, member=member)
    if outcome == "wrong":
        return await account_page(request, member, 400, WRONG_CODE)
    await record(state_of(request), member.address, "on")
    audit.info("inbox two-step sign-in on: %s", member.address)
    return to_account()


@post("/account/totp/off", include_in_schema=False)
async def turn_off(request: Request[Any, Any, State], data: Form) -> Response[Any]:
    """Turn two-step sign-in off with a right code; refused (400) when ops require it."""
    member, answer = await checked_member(request, data)
    if member is None:
        return answer or to_sign_in()
    if member.totp:
        return await account_page(
            request, member, 400, "Two-step sign-in is required for this account."
        )
    state = state_of(request)
    wait = await throttled(state, member.address)
    if wait:
        return await too_many(request, wait, member=member)
    if not await TwoStep(state).turn_off(member.address, data.get("code", "")):
        await count_failure(state, member.address)
        return await account_page(request, member, 400, WRONG_CODE)
    await record(state, member.address, "off")
    audit.info("inbox two-step sign-in off: %s", member.address)
    return to_account()


@post("/account/totp/reset", include_in_schema=False)
async def reset(request: Request[Any, Any, State], data: Form) -> Response[Any]:
    """An admin forgets another member's two-step state (a lost phone) and ends their sessions;
    403 for other roles.
    """
    state = state_of(request)
    checked = await granted(request, data, "accounts")
    if not isinstance(checked, Granted):
        return checked
    member = checked.member
    target = data.get("address", "").strip().lower()
    if target not in state.staff:
        return await account_page(request, member, 400, "No such staff member.")
    await TwoStep(state).reset(target)
    await sessions.end_every_session(state, target)
    await record(state, member.address, "reset", target)
    audit.info("inbox two-step sign-in reset: %s reset %s", member.address, target)
    return to_account()


async def pending_sign_in(
    request: Request[Any, Any, State],
) -> tuple[str | None, PendingRecord | None]:
    """The request's pending sign-in cookie and record (``None`` when there is none alive)."""
    state = state_of(request)
    pending_id = sessions.cookie_of(state, request, PENDING_COOKIE)
    browser_id = sessions.cookie_of(state, request, BROWSER_COOKIE)
    return pending_id, await sessions.pending_of(state, pending_id, browser_id)


async def code_page(
    request: Request[Any, Any, State],
    pending: PendingRecord,
    status_code: int = 200,
    problem: str | None = None,
) -> Response[str]:
    """The code form of a pending sign-in (with the enrolment when it must enrol first)."""
    state = state_of(request)
    shown = None
    if pending.enrol:
        twostep = TwoStep(state)
        secret = await twostep.enrolling(pending.address) or await twostep.start(pending.address)
        shown = enrolment(state, pending.address, secret, "/sign-in/code/qr.svg")
    return await render(
        request,
        "sign_in_code.html",
        status_code=status_code,
        enrolment=shown,
        problem=problem,
    )


def expired_pending(request: Request[Any, Any, State]) -> Response[Any]:
    """303 to sign in again, the pending cookie expired."""
    response = to_sign_in()
    response.cookies.append(sessions.expired(state_of(request), PENDING_COOKIE))
    return response


@get("/sign-in/code", include_in_schema=False)
async def sign_in_code(request: Request[Any, Any, State]) -> Response[Any]:
    """The code form of the browser's pending sign-in; to ``/sign-in`` without one."""
    _, pending = await pending_sign_in(request)
    if pending is None:
        return expired_pending(request)
    return await code_page(request, pending)


@get("/sign-in/code/qr.svg", include_in_schema=False)
async def sign_in_qr(request: Request[Any, Any, State]) -> Response[Any]:
    """The QR code of the enrolment a pending sign-in must make first; 404 for any other."""
    _, pending = await pending_sign_in(request)
    if pending is None or not pending.enrol:
        return Response(b"", status_code=404, media_type="text/plain")
    return await qr_of(state_of(request), pending.address)


@post("/sign-in/code", include_in_schema=False)
async def enter_code(request: Request[Any, Any, State], data: Form) -> Response[Any]:
    """A right code opens the session (303 to the list); a wrong one is counted and the form comes
    back (400); past the throttle 429; without a live pending sign-in 303 to ``/sign-in``.
    """
    state = state_of(request)
    if not await sessions.csrf_ok(state, request, data.get("_csrf")):
        return await refused(request)
    pending_id, pending = await pending_sign_in(request)
    if pending is None or pending_id is None:
        return expired_pending(request)
    outcome = await code_step(request, pending.address, data.get("code", ""), on=not pending.enrol)
    if isinstance(outcome, int):
        return await too_many(request, outcome)
    if outcome == "wrong":
        return await code_page(request, pending, 400, WRONG_CODE)
    if not await sessions.end_pending(state, pending_id):
        return expired_pending(request)  # another request used it first
    if pending.enrol:
        await record(state, pending.address, "on")
        audit.info("inbox two-step sign-in on: %s", pending.address)
    return await signed_in(request, pending.address)


ROUTES = [
    account,
    account_qr,
    start,
    confirm,
    turn_off,
    reset,
    sign_in_code,
    sign_in_qr,
    enter_code,
]
