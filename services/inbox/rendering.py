"""What every inbox page handler shares: the templates, rendering with the CSRF token, the
signed-in member, the role check, the refusal and redirect answers.

Route modules (services/inbox/pages.py, and one module per part of the inbox) import from here and
never from each other; services/inbox/app.py mounts their ``ROUTES``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import anyio
import jinja2
from litestar import Request, Response
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from frontdesk.staff_accounts import Action, StaffMember
from frontdesk.submissions import explain
from frontdesk.submissions.record import Submission
from frontdesk.submissions.store import load_submission
from services.inbox import sessions
from services.inbox.auditing import audited
from services.inbox.sessions import BROWSER_COOKIE, PENDING_COOKIE, SESSION_COOKIE
from services.inbox.state import InboxState

audit = logging.getLogger("frontdesk.audit")

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
# Codes in words (flags, delivery states, errors) for every template: ``words.flag(code)``.
TEMPLATES.globals["words"] = explain


def state_of(request: Request[Any, Any, State]) -> InboxState:
    """The inbox state the app factory built."""
    state: InboxState = request.app.state.inbox
    return state


async def render(
    request: Request[Any, Any, State],
    template: str,
    status_code: int = 200,
    member: StaffMember | None = None,
    **values: Any,
) -> Response[str]:
    """``template`` with the CSRF token of the request's browser and session; sets the browser
    cookie when the request had none.
    """
    state = state_of(request)
    browser_id = sessions.cookie_of(state, request, BROWSER_COOKIE)
    cookies = []
    if not browser_id:
        browser_id = sessions.new_browser_id()
        cookies.append(sessions.cookie(state, BROWSER_COOKIE, browser_id))
    session_id = sessions.cookie_of(state, request, SESSION_COOKIE)
    csrf = await sessions.csrf_token(state, browser_id, session_id)
    body = TEMPLATES.get_template(template).render(member=member, csrf=csrf, **values)
    return Response(body, status_code=status_code, media_type="text/html", cookies=cookies)


def client_of(state: InboxState, request: Request[Any, Any, State]) -> str:
    """The request's client bucket (frontdesk/networks.py): its address or network."""
    return state.access.client_bucket(request)


async def member_of(request: Request[Any, Any, State], touch: bool = True) -> StaffMember | None:
    """The signed-in staff member, or ``None`` without a live session; ``touch=False`` for a
    page's automatic live update, which does not count as use (the idle limit keeps running).
    """
    state = state_of(request)
    return await sessions.current_member(
        state, sessions.cookie_of(state, request, SESSION_COOKIE), touch
    )


def to_sign_in() -> Redirect:
    """303 to the sign-in page."""
    return Redirect("/sign-in", status_code=303)


async def message(
    request: Request[Any, Any, State],
    status_code: int,
    heading: str,
    text: str,
    member: StaffMember | None = None,
) -> Response[str]:
    """A page saying ``heading`` and ``text`` (what went wrong and what to do) with
    ``status_code``, and the link to sign in again.
    """
    return await render(request, "message.html", status_code, member, heading=heading, text=text)


async def refused(request: Request[Any, Any, State]) -> Response[str]:
    """403: a state change without this browser's CSRF token."""
    return await message(
        request,
        403,
        "Refused",
        "This request came without this browser's form token. Reload the page and try again.",
    )


def site_zone(state: InboxState) -> str:
    """The site's time zone (``site.yaml``'s ``timezone``; UTC without one): staff pages show
    times in it.
    """
    site = state.access.catalog.site
    return site.timezone if site is not None else "UTC"


def is_htmx(request: Request[Any, Any, State]) -> bool:
    """Whether htmx sent ``request`` (``HX-Request: true``): it gets a partial back."""
    return request.headers.get("hx-request") == "true"


async def reachable(
    request: Request[Any, Any, State], member: StaffMember, submission_id: str
) -> Submission | None:
    """The stored inquiry ``submission_id`` when it exists and ``member`` sees its form, else
    ``None`` (both answer :func:`not_found`: whether an inquiry of another form exists is not
    told). Raises ``redis.RedisError``.
    """
    state = state_of(request)
    found = await anyio.to_thread.run_sync(load_submission, state.access.store.redis, submission_id)
    return found if found is not None and member.reaches(found.form) else None


async def not_found(request: Request[Any, Any, State], member: StaffMember) -> Response[str]:
    """404: the inquiry expired, was erased, or is on a form the member does not see."""
    return await message(
        request,
        404,
        "No such inquiry",
        "It expired, was erased, or is on a form you do not see.",
        member=member,
    )


Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
"""A url-encoded form body as a dict of its fields."""


class Granted(NamedTuple):
    """A state change let through: the signed-in ``member``."""

    member: StaffMember


class GrantedOn(NamedTuple):
    """A state change on one inquiry let through: the signed-in ``member`` and the inquiry."""

    member: StaffMember
    submission: Submission


async def granted(
    request: Request[Any, Any, State], data: dict[str, str], action: Action
) -> Granted | Response[Any]:
    """The checks every state change starts with, in this order: this browser's CSRF token in
    ``data`` (403 :func:`refused`), a live session (303 :func:`to_sign_in`), the role allowing
    ``action`` (403 :func:`forbidden`). Returns :class:`Granted`, or the answer to send instead.
    """
    if not await sessions.csrf_ok(state_of(request), request, data.get(sessions.CSRF_FIELD)):
        return await refused(request)
    member, answer = await allowed(request, action)
    if member is None or answer is not None:
        return answer or to_sign_in()
    return Granted(member)


async def granted_on(
    request: Request[Any, Any, State], data: dict[str, str], action: Action, submission_id: str
) -> GrantedOn | Response[Any]:
    """:func:`granted`, then an inquiry the member sees (404 :func:`not_found`)."""
    checked = await granted(request, data, action)
    if not isinstance(checked, Granted):
        return checked
    found = await reachable(request, checked.member, submission_id)
    if found is None:
        return await not_found(request, checked.member)
    return GrantedOn(checked.member, found)


async def forbidden(request: Request[Any, Any, State], member: StaffMember) -> Response[str]:
    """403: the member's role does not allow what was asked (docs/inbox.md, roles)."""
    return await message(
        request,
        403,
        "Not allowed",
        f"Your role ({member.role}) does not allow this. Ask an admin.",
        member=member,
    )


async def allowed(
    request: Request[Any, Any, State], action: Action, touch: bool = True
) -> tuple[StaffMember | None, Response[Any] | None]:
    """The signed-in member and ``None`` when they may do ``action``; else ``None`` or the member
    and the answer to send instead: a redirect to sign in, or 403. ``touch``: as
    :func:`member_of`.
    """
    member = await member_of(request, touch)
    if member is None:
        return None, to_sign_in()
    if not member.may(action):
        return member, await forbidden(request, member)
    return member, None


async def signed_in(request: Request[Any, Any, State], address: str) -> Redirect:
    """303 to the inquiry list with a new session of ``address`` and a new browser id (the ones
    the browser came with are not kept: no session fixation, and a CSRF token learned before is
    worthless); a pending sign-in's cookie is expired.
    """
    state = state_of(request)
    old = sessions.cookie_of(state, request, SESSION_COOKIE)
    session_id = await sessions.open_session(state, address, replaces=old)
    audit.info("inbox sign-in: %s", address)
    await audited(state, address, "sign_in")
    return Redirect(
        "/inquiries",
        status_code=303,
        cookies=[
            sessions.cookie(state, SESSION_COOKIE, session_id),
            sessions.cookie(state, BROWSER_COOKIE, sessions.new_browser_id()),
            sessions.expired(state, PENDING_COOKIE),
        ],
    )
