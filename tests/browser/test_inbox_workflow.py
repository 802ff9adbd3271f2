"""Working an inquiry in the system Chromium: status, "Assign to me" and a note, with htmx (the
panel is swapped in place, the page is not left) and without JavaScript (each form posts and the
303 brings the page back). Under the inbox's CSP: any violation or page error fails the test.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page

from frontdesk.submissions.store import load_submission
from tests.browser.conftest import BrowserStack, screenshot
from tests.browser.test_inbox import LINK, STAFF
from tests.conftest import Inbox


def new_inquiry(stack: BrowserStack, message: str) -> str:
    """A new inquiry (``message`` differs per test: the same post again is a duplicate)."""
    answer = httpx.post(
        f"http://127.0.0.1:{stack.forms_port}/v1/forms/contact/submissions",
        json={
            "name": "Browser Visitor",
            "email": "browser.visitor@example.com",
            "phone": "+1 415 555 0177",
            "message": message,
        },
    )
    assert answer.status_code == 201
    return str(answer.json()["id"])


def signed_in(
    browser: Browser, stack: BrowserStack, inbox: Inbox, javascript: bool
) -> tuple[BrowserContext, Page, list[str]]:
    """A context signed in through the mailed link; the list collects CSP reports and errors."""
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    inbox.envelopes.clear()
    page.goto(f"{stack.inbox}/sign-in")
    page.get_by_label("Your staff email address").fill(STAFF)
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.get_by_role("heading", name="Check your mail").wait_for()
    links: list[str] = []
    deadline = time.monotonic() + 20
    while not links and time.monotonic() < deadline:
        # The worker also mails staff the new inquiry: only the sign-in mail has the link.
        messages = inbox.wait(len(inbox.envelopes) + 1, timeout=1)
        for message in messages:
            body = message.get_body(("plain",))
            found = LINK.search(body.get_content()) if body is not None else None
            if message["Subject"] == "Your Frontdesk sign-in link" and found:
                links.append(found.group(1))
    assert len(links) == 1
    page.goto(links[0])
    page.get_by_role("heading", name="Inquiries").wait_for()
    return context, page, problems


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
    javascript: bool,
) -> None:
    submission_id = new_inquiry(stack, f"My shoulder hurts ({javascript=})")
    context, page, problems = signed_in(browser, stack, inbox, javascript)
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
    assert problems == [], problems
    assert re.fullmatch(r"[0-9a-f]{28}", submission_id)
