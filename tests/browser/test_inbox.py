"""The staff inbox in the system Chromium: sign in with the mailed link, list, detail.

Real processes (the browser tests' stack: forms, worker, inbox), a real aiosmtpd server catching
the sign-in mail; any Content Security Policy violation reported by the browser fails the test,
and no request may leave the inbox's origin.
"""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, Route

from tests.browser.axe import assert_accessible
from tests.browser.conftest import BrowserStack, screenshot
from tests.browser.csp import CspGuard
from tests.conftest import Inbox

STAFF = "desk@clinic.example"
LINK = re.compile(r"(http://\S+/sign-in/link\?token=\S+)")


def test_sign_in_list_and_detail_under_the_csp(
    browser: Browser, stack: BrowserStack, inbox: Inbox, csp: CspGuard
) -> None:
    submission_id = ""
    for message_text in ("My shoulder hurts", "And my knee"):
        submitted = httpx.post(
            f"http://127.0.0.1:{stack.forms_port}/v1/forms/contact/submissions",
            json={
                "name": "Browser Visitor",
                "email": "browser.visitor@example.com",
                "phone": "+1 415 555 0177",
                "message": message_text,
            },
        )
        assert submitted.status_code == 201
        submission_id = submission_id or submitted.json()["id"]  # the older one
    origin = stack.inbox
    context = csp.watch(browser.new_context())
    page = context.new_page()
    elsewhere: list[str] = []

    def only_this_origin(route: Route) -> None:
        if route.request.url.startswith(origin + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_origin)
    try:
        page.goto(f"{origin}/sign-in")
        assert_accessible(page)
        page.get_by_label("Your staff email address").fill(STAFF)
        page.get_by_role("button", name="Email me a sign-in link").click()
        page.get_by_role("heading", name="Check your mail").wait_for()
        mails: list[str] = []
        for message in inbox.wait(3, timeout=20):
            if message["Subject"] == "Your Frontdesk sign-in link":
                body = message.get_body(("plain",))
                assert body is not None
                mails.append(body.get_content())
        [mail] = mails
        found = LINK.search(mail)
        assert found, mail
        page.goto(found.group(1))
        page.get_by_role("heading", name="Inquiries").wait_for()
        assert_accessible(page)
        assert page.evaluate("typeof htmx") == "object"
        assert page.evaluate("htmx.config.allowEval") is False
        assert page.evaluate("htmx.config.includeIndicatorStyles") is False
        # One a page; htmx puts the older one below without leaving the page.
        page.goto(f"{origin}/inquiries?form=contact&size=1")
        # The list's times are in the site's zone (America/New_York for the clinic).
        received = page.get_by_role("link", name=re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d"))
        assert received.count() == 1
        page.get_by_role("link", name="Older inquiries").click()
        page.locator(f'a[href="/inquiries/{submission_id}"]').wait_for()
        assert received.count() == 2
        assert page.url.endswith("/inquiries?form=contact&size=1")
        page.locator(f'a[href="/inquiries/{submission_id}"]').click()
        page.get_by_role("heading", name=f"Inquiry {submission_id}").wait_for()
        assert page.locator('a[href="tel:+14155550177"]').count() == 1
        assert page.locator('a[href="mailto:browser.visitor@example.com"]').count() == 1
        assert_accessible(page)
        screenshot(page, "inbox-detail")
        # Live updates: a new inquiry appears in the list without a reload (htmx polls every
        # 10 s), while what is typed in the search box and its focus stay.
        page.goto(f"{origin}/inquiries?form=contact")
        search = page.get_by_label("Search name, email, message, phone")
        search.fill("half-typed")
        search.focus()
        newer = httpx.post(
            f"http://127.0.0.1:{stack.forms_port}/v1/forms/contact/submissions",
            json={
                "name": "Live Visitor",
                "email": "live.visitor@example.com",
                "phone": "+1 415 555 0178",
                "message": "Arrived while the list was open",
            },
        )
        assert newer.status_code == 201
        page.locator(f'a[href="/inquiries/{newer.json()["id"]}"]').wait_for(timeout=30_000)
        assert search.input_value() == "half-typed"
        assert page.evaluate("document.activeElement.id") == "q"
        # The same link again, in the same browser: used up.
        again = page.goto(found.group(1))
        assert again is not None
        assert again.status == 400
    finally:
        context.close()
    assert elsewhere == []
