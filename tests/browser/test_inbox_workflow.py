"""Working an inquiry in the system Chromium: status, "Assign to me" and a note, with htmx (the
panel is swapped in place, the page is not left) and without JavaScript (each form posts and the
303 brings the page back). Under the inbox's CSP: any violation or page error fails the test.
"""

from __future__ import annotations

import re

import pytest
import redis
from playwright.sync_api import Browser, Page

from frontdesk.submissions.store import load_submission
from tests.browser.conftest import BrowserStack, screenshot
from tests.browser.csp import CspGuard
from tests.browser.staff import post_inquiry, signed_in
from tests.conftest import Inbox

STAFF = "desk@clinic.example"


def work_the_inquiry(page: Page) -> None:
    page.get_by_label("Status").select_option("in_progress")
    page.get_by_role("button", name="Set status").click()
    page.locator("#workflow dd", has_text="In progress").wait_for()
    page.get_by_role("button", name="Assign to me").click()
    page.get_by_role("button", name="Assign to me").wait_for(state="detached")
    page.get_by_label("New note").fill("<script>alert(1)</script> called back")
    page.get_by_role("button", name="Add note").click()
    page.locator(".notes li", has_text="called back").wait_for()


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-javascript"])
def test_status_assignee_and_a_note_from_the_page(
    browser: Browser,
    stack: BrowserStack,
    inbox: Inbox,
    module_redis: redis.Redis,
    csp: CspGuard,
    javascript: bool,
) -> None:
    submission_id = post_inquiry(
        stack, "Browser Visitor", "browser.visitor@example.com", f"My shoulder ({javascript=})"
    )
    context, page = signed_in(browser, stack, inbox, csp, STAFF, javascript)
    try:
        page.goto(f"{stack.inbox}/inquiries/{submission_id}")
        page.get_by_role("heading", name="Working this inquiry").wait_for()
        if javascript:
            # A page that is never left keeps this mark; a reload would drop it.
            page.evaluate("window.stayed = true")
        work_the_inquiry(page)
        if javascript:
            assert page.evaluate("window.stayed") is True
        else:
            assert page.url.endswith(f"/inquiries/{submission_id}")
        note = page.locator(".notes li .value")
        assert note.inner_text() == "<script>alert(1)</script> called back"
        # Refused: back to "new" is not offered; a crafted post answers 409 in the panel.
        if javascript:
            page.evaluate(
                """id => htmx.ajax('POST', `/inquiries/${id}/status`,
                     {target: '#workflow', swap: 'outerHTML', values: {status: 'new'}})""",
                submission_id,
            )
            page.get_by_role("alert").wait_for()
            assert "cannot become new" in page.get_by_role("alert").inner_text()
        screenshot(page, f"inbox-workflow-{'htmx' if javascript else 'plain'}", full_page=True)
    finally:
        context.close()
    stored = load_submission(module_redis, submission_id)
    assert stored is not None
    assert stored.inquiry_status == "in_progress"
    assert stored.assignee == STAFF
    assert [n.author for n in stored.notes] == [STAFF]
    assert STAFF in stored.read_by
    assert re.fullmatch(r"[0-9a-f]{28}", submission_id)
