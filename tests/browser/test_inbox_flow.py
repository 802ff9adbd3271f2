"""The staff inbox end to end in the system Chromium, against the browser tests' real processes.

- The whole flow: a visitor sends the example site's contact form; a staff member signs in with
  the link the SMTP catcher received, finds the inquiry unread, opens it, takes it, writes a
  note, replies twice (the visitor's mailbox — the same catcher — gets both replies, threaded),
  and closes it; a second staff member's list, open in another browser all along, shows the
  closed status and a new inquiry without a reload.
- Refusals: an expired link, a used link, a link opened in another browser; a state change
  without the CSRF token (403, nothing changed).
- The CSP guard itself: a violation provoked on an inbox page is caught (a guard that cannot fail
  proves nothing).

Each test has visitors of its own (the stack and the store live across the module's tests).
"""

from __future__ import annotations

import re
import time
from email.message import EmailMessage

import msgspec
import pytest
import redis
from playwright.sync_api import Browser, Locator, Page, expect

from frontdesk.signin_links import LinkRecord
from frontdesk.submissions.keys import form_index_key, sign_in_link_key
from frontdesk.submissions.store import load_submission
from services.inbox.listing import LIVE_SECONDS
from tests.browser.conftest import BrowserStack, screenshot
from tests.browser.csp import CspGuard
from tests.browser.staff import csrf_of, new_link, post_inquiry, signed_in
from tests.browser.test_embed import SUCCESS, fill, open_form, past_time_trap
from tests.conftest import Inbox

pytestmark = pytest.mark.browser

DESK = "desk@clinic.example"
FRONT = "front@clinic.example"
LIVE_WAIT_MS = (LIVE_SECONDS + 8) * 1000
"""How long a change may take to show in another open list: the documented poll interval (10 s,
docs/inbox.md "Live updates") and a margin."""
REFUSED_LINK = "This link cannot be used"


def inquiry_of(client: redis.Redis, email: str, timeout: float = 10) -> str:
    """The id of the newest contact inquiry from ``email`` (the visitor's form post names none)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for raw in reversed(client.zrange(form_index_key("contact"), -20, -1)):
            submission_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            record = load_submission(client, submission_id)
            if record is not None and record.fields.get("email") == email:
                return submission_id
        time.sleep(0.2)
    raise AssertionError(f"no inquiry from {email}")


def mails_to(mail: Inbox, address: str, count: int, timeout: float = 30) -> list[EmailMessage]:
    """The first ``count`` messages to ``address`` the catcher holds, waiting for them."""
    deadline = time.monotonic() + timeout
    found: list[EmailMessage] = []
    while time.monotonic() < deadline:
        found = [
            m for m in mail.wait(len(mail.envelopes) + 1, timeout=0.5) if address in str(m["To"])
        ]
        if len(found) >= count:
            return found[:count]
    raise AssertionError(f"{len(found)} of {count} messages to {address} arrived")


def row_of(page: Page, submission_id: str) -> Locator:
    """The list row linking to the inquiry ``submission_id``."""
    return page.locator("tr", has=page.locator(f'a[href="/inquiries/{submission_id}"]'))


def visitor_sends_the_form(browser: Browser, stack: BrowserStack, visitor: dict[str, str]) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        opened = open_form(page, f"{stack.site}/index.html")
        fill(page, visitor)
        past_time_trap(page, opened)
        page.locator("form [type=submit]").click()
        expect(page.locator("[data-frontdesk-done]")).to_have_text(SUCCESS)
    finally:
        context.close()


def test_a_visitors_inquiry_from_unread_to_closed_seen_live_by_a_colleague(
    browser: Browser,
    stack: BrowserStack,
    inbox: Inbox,
    module_redis: redis.Redis,
    csp: CspGuard,
) -> None:
    visitor = {
        "name": "Flora Flow",
        "email": "flora.flow@example.com",
        "phone": "+1 415 555 2671",
        "message": "My ankle is swollen.\nSince the match on Sunday.",
    }
    visitor_sends_the_form(browser, stack, visitor)
    submission_id = inquiry_of(module_redis, visitor["email"])

    # A colleague's list is open all along, in another browser.
    front_context, front = signed_in(browser, stack, inbox, csp, FRONT)
    desk_context, desk = signed_in(browser, stack, inbox, csp, DESK)
    try:
        front.goto(f"{stack.inbox}/inquiries?form=contact")
        front.evaluate("window.stayed = true")  # a reload would drop it

        # Unread on the list: in bold, and said to screen readers.
        desk.goto(f"{stack.inbox}/inquiries?form=contact")
        row = row_of(desk, submission_id)
        expect(row).to_have_class(re.compile(r"\bunread\b"))
        expect(row.locator(".visually-hidden")).to_have_text("Unread:")
        expect(row).to_contain_text(visitor["name"])
        row.get_by_role("link").click()
        desk.get_by_role("heading", name=f"Inquiry {submission_id}").wait_for()
        expect(desk.locator(f'a[href="mailto:{visitor["email"]}"]')).to_have_count(1)

        # Take it and write a note.
        desk.get_by_role("button", name="Assign to me").click()
        expect(desk.locator("#workflow")).to_contain_text(f"Assigned to{DESK}")
        desk.get_by_label("New note").fill("Called her back: sprain, booked for Tuesday.")
        desk.get_by_role("button", name="Add note").click()
        expect(desk.locator(".notes li")).to_contain_text(["booked for Tuesday"])

        # Reply twice: the visitor receives both, the second threaded to the first.
        for text in ("Dear Flora, we booked you for Tuesday.", "PS: bring your scan."):
            desk.get_by_label(re.compile("^Reply to the visitor")).fill(text)
            desk.get_by_role("button", name="Send reply").click()
            expect(desk.locator("#replies .reply-text").last).to_have_text(text)
        first, second = mails_to(inbox, visitor["email"], 2)
        assert "Dear Flora" in first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "bring your scan" in second.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert first["Subject"] == second["Subject"] == "Re: Get In Touch"
        # The contact form sends no auto-reply: the first reply starts the thread.
        assert first["In-Reply-To"] is None
        assert first["Message-ID"].startswith(f"<{submission_id}.reply-")
        assert second["In-Reply-To"] == first["Message-ID"]
        assert first["Message-ID"] in second["References"].split()
        assert "sent" in desk.locator("#replies .reply").first.inner_text()

        # A reply made it answered; close it.
        desk.reload()
        expect(desk.locator("#workflow dl dd").first).to_have_text("Answered")
        desk.get_by_label("Status", exact=True).select_option("closed")
        desk.get_by_role("button", name="Set status").click()
        expect(desk.locator("#workflow dl dd").first).to_have_text("Closed")
        screenshot(desk, "inbox-flow-closed", full_page=True)

        # The colleague's list shows it closed, then a new inquiry, without a reload.
        expect(row_of(front, submission_id).locator("td").nth(3)).to_have_text(
            "closed", timeout=LIVE_WAIT_MS
        )
        newer = post_inquiry(stack, "Nils Newer", "nils.newer@example.com", "Flow: a new one")
        expect(row_of(front, newer)).to_have_count(1, timeout=LIVE_WAIT_MS)
        expect(row_of(front, newer)).to_have_class(re.compile(r"\bunread\b"))
        assert front.evaluate("window.stayed") is True
        screenshot(front, "inbox-flow-live", full_page=True)
    finally:
        desk_context.close()
        front_context.close()

    stored = load_submission(module_redis, submission_id)
    assert stored is not None
    assert stored.inquiry_status == "closed"
    assert stored.assignee == DESK
    assert [n.author for n in stored.notes] == [DESK]
    assert len(stored.replies) == 2
    assert {DESK, FRONT} >= set(stored.read_by) >= {DESK}


def expire(client: redis.Redis, link: str) -> None:
    """Make the link's record say it expired a second ago (its key keeps its TTL)."""
    link_id = link.split("token=", 1)[1].split(".", 1)[0]
    key = sign_in_link_key(link_id)
    raw = client.get(key)
    assert raw is not None
    record = msgspec.json.decode(raw, type=LinkRecord)
    expired = msgspec.structs.replace(record, expires=time.time() - 1)
    assert client.set(key, msgspec.json.encode(expired), keepttl=True, xx=True)


def refused(page: Page, link: str) -> None:
    answer = page.goto(link)
    assert answer is not None
    assert answer.status == 400
    expect(page.get_by_role("heading", name=REFUSED_LINK)).to_be_visible()
    assert not any(c["name"].endswith("frontdesk_session") for c in page.context.cookies())


def test_expired_used_and_foreign_links_are_refused_and_a_change_needs_the_csrf_token(
    browser: Browser,
    stack: BrowserStack,
    inbox: Inbox,
    module_redis: redis.Redis,
    csp: CspGuard,
) -> None:
    submission_id = post_inquiry(stack, "Rita Refused", "rita.refused@example.com", "Refusals")
    mine = csp.watch(browser.new_context())
    other = csp.watch(browser.new_context())
    try:
        page, stranger = mine.new_page(), other.new_page()
        stranger.goto(f"{stack.inbox}/sign-in")  # the other browser has its own browser id

        # Expired: the record says so (the inbox's clock cannot be moved from here).
        expired = new_link(page, stack, inbox, DESK)
        expire(module_redis, expired)
        refused(page, expired)

        # Another browser: refused, and the link still works in the one that asked.
        link = new_link(page, stack, inbox, DESK)
        refused(stranger, link)
        page.goto(link)
        page.get_by_role("heading", name="Inquiries").wait_for()
        # Used: refused the second time, even in the same browser.
        refused_again = page.goto(link)
        assert refused_again is not None
        assert refused_again.status == 400
        expect(page.get_by_role("heading", name=REFUSED_LINK)).to_be_visible()

        # Signed in, but a state change without the CSRF token (or with another browser's) is 403.
        page.goto(f"{stack.inbox}/inquiries/{submission_id}")
        page.get_by_role("heading", name=f"Inquiry {submission_id}").wait_for()
        base = f"{stack.inbox}/inquiries/{submission_id}"
        stranger.goto(f"{stack.inbox}/sign-in")
        stranger_token = csrf_of(stranger)
        attempts = [
            ("notes", {"text": "no token"}),
            ("status", {"status": "closed"}),
            ("assignee", {"assignee": DESK}),
            ("replies", {"text": "no token"}),
            ("notes", {"text": "a foreign token", "_csrf": stranger_token}),
        ]
        for path, form in attempts:
            answer = page.request.post(f"{base}/{path}", form=form, max_redirects=0)
            assert answer.status == 403, (path, form, answer.status)
        with_token = page.request.post(
            f"{base}/notes",
            form={"text": "with the token", "_csrf": csrf_of(page)},
            max_redirects=0,
        )
        assert with_token.status == 303  # the same request with the token goes through
    finally:
        mine.close()
        other.close()
    stored = load_submission(module_redis, submission_id)
    assert stored is not None
    assert [n.text for n in stored.notes] == ["with the token"]
    assert stored.inquiry_status == "new"
    assert stored.assignee is None or stored.assignee == ""
    assert stored.replies == []


def test_the_csp_guard_catches_a_violation_on_an_inbox_page(
    browser: Browser, stack: BrowserStack
) -> None:
    guard = CspGuard()
    context = guard.watch(browser.new_context())
    try:
        page = context.new_page()
        page.goto(f"{stack.inbox}/sign-in")
        # An inline script and an inline style: the inbox's CSP allows neither.
        page.evaluate(
            """() => {
                const script = document.createElement('script');
                script.textContent = 'window.ran = true';
                document.body.append(script);
                document.body.insertAdjacentHTML('beforeend', '<p style="color: red">x</p>');
            }"""
        )
        expect(page.locator("p[style]")).to_have_count(1)
        page.wait_for_timeout(500)  # the reports arrive asynchronously
        assert page.evaluate("window.ran") is None
    finally:
        context.close()
    events = [p for p in guard.problems if p.startswith("event: ")]
    console = [p for p in guard.problems if p.startswith("console: ")]
    assert any("script-src" in p for p in events), guard.problems
    assert any("style-src" in p for p in events), guard.problems
    assert console, guard.problems
    with pytest.raises(AssertionError):
        guard.assert_none()
