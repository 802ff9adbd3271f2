"""The inbox's list, search, quarantine and delivery views, and their live updates.

- ``GET /inquiries``: a form's inquiries, newest first, filtered and searched
  (:mod:`frontdesk.submissions.staff.search`), cursor-paged; unread ones marked; unread counts
  per form. ``GET /inquiries/live``: the first page's rows again (polled every
  :data:`LIVE_SECONDS`), 204 when nothing changed.
- ``GET /quarantine``: quarantined inquiries with their reasons in words and a Release button;
  ``POST /inquiries/{id}/release`` (action ``release``).
- ``GET /inquiries/{id}/delivery``: the detail page's delivery partial (polled); ``POST
  /inquiries/{id}/resend`` (field ``kind``; action ``resend``).

Release and resend run the store's own (:meth:`~frontdesk.submissions.store.SubmissionStore.release`,
:meth:`~frontdesk.submissions.store.SubmissionStore.queue_messages`), as the staff JSON API does,
and write an audit entry. Live updates do not count as use of the session (an unattended open
page still signs out after the idle limit). Live fragments carry a digest of what they show
(``seen``): a poll that would show the same answers 204, so htmx swaps nothing and no focus or
typing is disturbed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import anyio
import redis
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from frontdesk.cursors import CursorError, decode_position, encode_position
from frontdesk.staff_accounts import StaffMember
from frontdesk.submissions.audit import AuditAction
from frontdesk.submissions.record import Submission
from frontdesk.submissions.staff.queries import Position, page, unread_counts
from frontdesk.submissions.staff.search import (
    DELIVERY_STATES,
    INQUIRY_STATUSES,
    UNASSIGNED,
    Criteria,
    day_range,
)
from frontdesk.submissions.store import StoreUnavailable, WrongStatus
from services.inbox import sessions
from services.inbox.auditing import audited
from services.inbox.rendering import (
    TEMPLATES,
    Form,
    GrantedOn,
    allowed,
    audit,
    granted_on,
    is_htmx,
    message,
    not_found,
    reachable,
    render,
    site_zone,
    state_of,
)
from services.inbox.sessions import BROWSER_COOKIE
from services.inbox.state import InboxState

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
LIVE_SECONDS = 10
"""How often an open list or detail page asks for changes (htmx ``every 10s``)."""
LIVE_MAX = 500
"""At most this many rows on a live list (the first page and what arrived since it opened)."""
QUARANTINE_SHOWN = 100
SEARCHED_TYPES = frozenset({"text", "email", "textarea", "phone"})
"""Field types the search reads (name, email, message, phone): not dates, numbers or choices."""
RESENDABLE = frozenset({"sent", "failed"})
_SEEN = "__seen__"


class Listing:
    """The list's query as the request gave it: form, filters, search, dates (``YYYY-MM-DD`` in
    the site's time zone), page size. Values that are not understood are dropped.
    """

    def __init__(self, state: InboxState, member: StaffMember, query: dict[str, str]) -> None:
        self.forms = sorted(f for f in state.access.catalog.definitions if member.reaches(f))
        form = query.get("form")
        self.form = form if form in self.forms else (self.forms[0] if self.forms else None)
        status = query.get("status") or None
        self.status = status if status in INQUIRY_STATUSES else None
        delivery = query.get("delivery") or None
        self.delivery = delivery if delivery in DELIVERY_STATES else None
        assignee = (query.get("assignee") or "").strip().lower() or None
        self.assignee = (
            assignee
            if assignee is None or assignee in ("me", UNASSIGNED) or "@" in assignee
            else None
        )
        self.q = (query.get("q") or "").strip()[:200]
        self.first = _date(query.get("from"))
        self.last = _date(query.get("to"))
        self.zone = site_zone(state)
        try:
            self.size = min(max(int(query.get("size") or PAGE_SIZE), 1), MAX_PAGE_SIZE)
        except ValueError:
            self.size = PAGE_SIZE
        resolved = member.address if self.assignee == "me" else self.assignee
        self.criteria = Criteria(
            inquiry_status=self.status,
            assignee=resolved,
            delivery=self.delivery,
            text=self.q or None,
        )
        definition = state.access.catalog.definitions.get(self.form) if self.form else None
        self.searched = (
            {f.name for f in definition.fields if f.type in SEARCHED_TYPES} if definition else None
        )

    def params(self) -> dict[str, str]:
        """The query parameters that repeat this listing (no cursor)."""
        values = {
            "form": self.form or "",
            "status": self.status or "",
            "assignee": self.assignee or "",
            "delivery": self.delivery or "",
            "q": self.q,
            "from": self.first.isoformat() if self.first else "",
            "to": self.last.isoformat() if self.last else "",
        }
        kept = {k: v for k, v in values.items() if v}
        if self.size != PAGE_SIZE:
            kept["size"] = str(self.size)
        return kept

    def url(self, path: str = "/inquiries", **more: str) -> str:
        """``path`` with this listing's parameters and ``more``."""
        return f"{path}?{urlencode({**self.params(), **more})}"

    def keep(self) -> Callable[[Submission], bool] | None:
        """The record test of the filters and search (``None``: every record)."""
        if self.criteria.is_open:
            return None
        return self.criteria.matcher(self.searched)

    def read(
        self, state: InboxState, position: Position | None, limit: int, floor: Position | None
    ) -> tuple[list[Submission], str | None]:
        """One page from ``position`` (blocking Redis I/O: run in a thread)."""
        if self.form is None:
            return [], None
        since, until = day_range(self.first, self.last, self.zone)
        found = page(
            state.access.store.redis,
            self.form,
            limit,
            position,
            None,
            since,
            until=until,
            keep=self.keep(),
            floor=floor,
            prefilter=self.criteria.prefilter(),
        )
        return found.items, found.next_cursor


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def position_of(record: Submission) -> Position:
    """Where ``record`` sits in its form's index: its creation ms (as the store scores it), id."""
    return record.created_at.timestamp() * 1000, record.id


def _query(request: Request[Any, Any, State]) -> dict[str, str]:
    return {k: str(v) for k, v in request.query_params.items()}


async def _counts(state: InboxState, listing: Listing, member: StaffMember) -> dict[str, int]:
    return await anyio.to_thread.run_sync(
        unread_counts, state.access.store.redis, listing.forms, member.address
    )


async def _csrf(request: Request[Any, Any, State]) -> str:
    browser_id = request.cookies.get(BROWSER_COOKIE)
    return await sessions.csrf_token(state_of(request), browser_id) if browser_id else ""


def _digested(template: str, values: dict[str, Any]) -> tuple[str, str]:
    """``(body, digest)``: ``template`` rendered with ``seen`` set to the digest of itself (the
    digest is taken over the body with a placeholder in its place, so an equal body on the next
    poll has an equal digest).
    """
    body = TEMPLATES.get_template(template).render(**{**values, "seen": _SEEN})
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    return body.replace(_SEEN, digest), digest


def _signed_out() -> Response[Any]:
    """A live update without a live session: 204 with ``HX-Redirect``, so htmx opens the sign-in
    page instead of swapping it into the part it polls.
    """
    return Response(content=b"", status_code=204, headers={"HX-Redirect": "/sign-in"})


def _live_values(
    listing: Listing,
    member: StaffMember,
    items: list[Submission],
    floor: Position | None,
    counts: dict[str, int],
) -> dict[str, Any]:
    live_url = listing.url("/inquiries/live")
    if floor is not None:
        live_url += "&" + urlencode({"floor": encode_position(*floor)})
    return {
        "member": member,
        "items": items,
        "listing": listing,
        "counts": counts,
        "live_url": live_url,
        "live_seconds": LIVE_SECONDS,
        "tz": zoneinfo.ZoneInfo(listing.zone),
    }


@get("/inquiries", include_in_schema=False)
async def inquiries(
    request: Request[Any, Any, State], cursor: FromQuery[str | None] = None
) -> Response[Any]:
    """A form's inquiries, newest first, filtered and searched, ``size`` (1 to
    :data:`MAX_PAGE_SIZE`) a page; ``cursor`` names the next page. An htmx request
    (``HX-Request``) with a cursor gets only the page's rows and the next "Older inquiries" row.
    """
    member, answer = await allowed(request, "read")
    if answer is not None or member is None:
        return answer or Redirect("/sign-in", status_code=303)
    state = state_of(request)
    query = _query(request)
    listing = Listing(state, member, query)
    counts: dict[str, int] | None = None
    if "form" not in query:
        # No form chosen (the inbox's front page): open the first form with inquiries this
        # member has not read, so a new inquiry is what they see first; else the first by name.
        counts = await _counts(state, listing, member)
        waiting = next((form for form in listing.forms if counts.get(form)), None)
        if waiting is not None:
            listing = Listing(state, member, {**query, "form": waiting})
    try:
        position = decode_position(cursor) if cursor else None
    except CursorError:
        position = None
    items, next_cursor = await anyio.to_thread.run_sync(
        listing.read, state, position, listing.size, None
    )
    tz = zoneinfo.ZoneInfo(listing.zone)
    older = listing.url(cursor=next_cursor) if next_cursor else None
    fragment = is_htmx(request) and cursor is not None
    if fragment:
        response = await render(
            request, "_rows.html", member=member, items=items, older=older, tz=tz
        )
    else:
        counts = counts if counts is not None else await _counts(state, listing, member)
        floor = position_of(items[-1]) if items else None
        values = _live_values(listing, member, items, floor, counts)
        _, seen = _digested("_live.html", values)
        response = await render(
            request,
            "list.html",
            **{**values, "seen": seen},
            first_page=position is None,
            older=older,
            delivery_states=DELIVERY_STATES,
            inquiry_statuses=INQUIRY_STATUSES,
            staff=sorted(state.staff),
        )
    # One URL, two bodies: caches (none should keep it: no-store) and history must tell them apart.
    response.headers["Vary"] = "HX-Request"
    return response


@get("/inquiries/live", include_in_schema=False)
async def live_rows(
    request: Request[Any, Any, State],
    floor: FromQuery[str | None] = None,
    seen: FromQuery[str | None] = None,
) -> Response[Any]:
    """The first page's rows again, with every inquiry that arrived since (down to ``floor``, the
    position of the first page's last row; at most :data:`LIVE_MAX`), and the unread counts
    (out of band); 204 when the digest equals ``seen``.
    """
    member, answer = await allowed(request, "read", touch=False)
    if member is None:
        return _signed_out()
    if answer is not None:
        return answer
    state = state_of(request)
    listing = Listing(state, member, _query(request))
    try:
        bottom = decode_position(floor) if floor else None
    except CursorError:
        bottom = None
    limit = LIVE_MAX if bottom is not None else listing.size
    items, _ = await anyio.to_thread.run_sync(listing.read, state, None, limit, bottom)
    counts = await _counts(state, listing, member)
    values = _live_values(listing, member, items, bottom, counts)
    body, digest = _digested("_live.html", values)
    if digest == seen:
        return Response(content=b"", status_code=204)
    return Response(body, status_code=200, media_type="text/html")


@get("/quarantine", include_in_schema=False)
async def quarantine(request: Request[Any, Any, State]) -> Response[Any]:
    """Quarantined inquiries of every form the member sees, newest first (at most
    :data:`QUARANTINE_SHOWN`), each with its reasons in words and a Release button.
    """
    member, answer = await allowed(request, "read")
    if answer is not None or member is None:
        return answer or Redirect("/sign-in", status_code=303)
    state = state_of(request)
    forms = sorted(f for f in state.access.catalog.definitions if member.reaches(f))

    def held() -> tuple[list[Submission], bool]:
        found: list[Submission] = []
        more = False
        for form_id in forms:
            one = page(
                state.access.store.redis, form_id, QUARANTINE_SHOWN, None, "quarantined", None
            )
            found += one.items
            more = more or one.next_cursor is not None
        found.sort(key=position_of, reverse=True)
        return found[:QUARANTINE_SHOWN], more or len(found) > QUARANTINE_SHOWN

    items, more = await anyio.to_thread.run_sync(held)
    return await render(
        request,
        "quarantine.html",
        member=member,
        items=items,
        more=more,
        shown=QUARANTINE_SHOWN,
        tz=zoneinfo.ZoneInfo(site_zone(state)),
    )


async def _audit(
    state: InboxState, member: StaffMember, action: AuditAction, sid: str, detail: str | None = None
) -> None:
    """The audit entry and the ``frontdesk.audit`` log line of a release or resend (ids only)."""
    audit.info("inbox %s: %s on submission %s", action, member.address, sid)
    await audited(state, member.address, action, sid, detail)


def _back(data: dict[str, str], submission_id: str) -> str:
    """Where a POST's 303 goes: the quarantine page when it came from there, else the inquiry
    (never a URL from the body: only these two).
    """
    return "/quarantine" if data.get("back") == "/quarantine" else f"/inquiries/{submission_id}"


async def _conflict(
    request: Request[Any, Any, State], member: StaffMember, text: str
) -> Response[str]:
    return await message(request, 409, "Not done", text, member=member)


async def _unavailable(request: Request[Any, Any, State], member: StaffMember) -> Response[str]:
    return await message(
        request, 503, "Try again", "The store did not answer. Nothing was changed.", member=member
    )


@post("/inquiries/{submission_id:str}/release", include_in_schema=False)
async def release(
    request: Request[Any, Any, State], submission_id: FromPath[str], data: Form
) -> Response[Any]:
    """Release a quarantined inquiry: its messages are queued as at intake; 303 back (the
    quarantine page or the inquiry); 403 without the CSRF token or the ``release`` action, 404
    outside the member's forms, 409 when it is not quarantined.
    """
    state = state_of(request)
    checked = await granted_on(request, data, "release", submission_id)
    if not isinstance(checked, GrantedOn):
        return checked
    member, stored = checked
    form = state.access.catalog.definitions.get(stored.form)
    try:
        done = await anyio.to_thread.run_sync(state.access.store.release, stored, form)
    except WrongStatus:
        return await _conflict(request, member, "This inquiry is not quarantined (any more).")
    except (StoreUnavailable, redis.RedisError):
        return await _unavailable(request, member)
    if done is None:
        return await not_found(request, member)
    await _audit(state, member, "release", submission_id)
    return Redirect(_back(data, submission_id), status_code=303)


@post("/inquiries/{submission_id:str}/resend", include_in_schema=False)
async def resend(
    request: Request[Any, Any, State], submission_id: FromPath[str], data: Form
) -> Response[Any]:
    """Send message ``kind`` (``staff``, ``auto_reply``, ``webhook``) again when it was sent or
    failed; 303 to the inquiry; an htmx request gets the delivery partial. 403 without the CSRF
    token or the ``resend`` action, 404 outside the member's forms, 409 when that message is not
    sent or failed (or the inquiry is quarantined).
    """
    state = state_of(request)
    checked = await granted_on(request, data, "resend", submission_id)
    if not isinstance(checked, GrantedOn):
        return checked
    member, stored = checked
    kind = data.get("kind", "")
    # A reply is one of several messages of kind "reply": it is named by its id, not here.
    message = next((m for m in stored.messages if m.kind == kind and kind != "reply"), None)
    if message is None or message.status not in RESENDABLE:
        return await _conflict(request, member, "Only a sent or failed message can be sent again.")
    try:
        done = await anyio.to_thread.run_sync(
            lambda: state.access.store.queue_messages(submission_id, [message.kind], release=False)
        )
    except WrongStatus:
        return await _conflict(request, member, "A quarantined inquiry is released, not resent.")
    except (StoreUnavailable, redis.RedisError):
        return await _unavailable(request, member)
    if done is None:
        return await not_found(request, member)
    await _audit(state, member, "resend", submission_id, message.kind)
    if is_htmx(request):
        return await _delivery_answer(request, member, done, seen=None)
    return Redirect(f"/inquiries/{submission_id}", status_code=303)


async def _delivery_answer(
    request: Request[Any, Any, State], member: StaffMember, record: Submission, seen: str | None
) -> Response[Any]:
    values = {"member": member, "s": record, "csrf": await _csrf(request)}
    body, digest = _digested("_delivery.html", values)
    if digest == seen:
        return Response(content=b"", status_code=204)
    return Response(body, status_code=200, media_type="text/html")


@get("/inquiries/{submission_id:str}/delivery", include_in_schema=False)
async def delivery(
    request: Request[Any, Any, State],
    submission_id: FromPath[str],
    seen: FromQuery[str | None] = None,
) -> Response[Any]:
    """The detail page's delivery partial (polled every :data:`LIVE_SECONDS`); 204 when it would
    equal ``seen``; 404 outside the member's forms.
    """
    member, answer = await allowed(request, "read", touch=False)
    if member is None:
        return _signed_out()
    if answer is not None:
        return answer
    stored = await reachable(request, member, submission_id)
    if stored is None:
        return await not_found(request, member)
    return await _delivery_answer(request, member, stored, seen)


ROUTES = [inquiries, live_rows, quarantine, release, resend, delivery]
