"""The staff flow with the keyboard alone, in the system Chromium: sign in, open an inquiry, change
its status, write a note — Tab, Shift+Tab, Enter, Space and typing only (no clicks, no ``fill``).
Opening the mailed link is the one navigation by address (it comes from the mail). Every element
reached must show where the focus is (``:focus-visible`` with an outline). Any CSP violation fails
the test.
"""

from __future__ import annotations

import pytest
import redis
from playwright.sync_api import Browser, Page, expect

from frontdesk.submissions.store import load_submission
from tests.browser.conftest import BrowserStack, screenshot
from tests.browser.csp import CspGuard
from tests.browser.staff import mailed_link, post_inquiry
from tests.conftest import Inbox

pytestmark = pytest.mark.browser

DESK = "desk@clinic.example"
FOCUS_SHOWN = """() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    return el.matches(':focus-visible') && style.outlineStyle !== 'none'
        && parseFloat(style.outlineWidth) > 0;
}"""


def tab_to(page: Page, selector: str, backwards: bool = False, limit: int = 80) -> None:
    """Press Tab (or Shift+Tab) until the focused element matches ``selector``; check that the
    focus is visible there."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            assert page.evaluate(FOCUS_SHOWN), f"no visible focus on {selector}"
            return
    raise AssertionError(f"{limit} × {key} never reached {selector}")


def test_sign_in_open_change_status_and_note_with_the_keyboard_alone(
    browser: Browser,
    stack: BrowserStack,
    inbox: Inbox,
    module_redis: redis.Redis,
    csp: CspGuard,
) -> None:
    submission_id = post_inquiry(stack, "Kim Keys", "kim.keys@example.com", "Keyboard: my wrist")
    context = csp.watch(browser.new_context())
    page = context.new_page()
    try:
        page.goto(f"{stack.inbox}/sign-in")
        tab_to(page, "#address")
        page.keyboard.type(DESK)
        # Past the button and back: Shift+Tab returns to the address, still typed.
        tab_to(page, 'form[action="/sign-in"] button')
        tab_to(page, "#address", backwards=True)
        seen = len(inbox.envelopes)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
        page.goto(mailed_link(inbox, DESK, seen))
        expect(page.get_by_role("heading", name="Inquiries")).to_be_visible()

        # The contact form's inquiries: choose the form, then "Show".
        tab_to(page, "select#form")
        page.keyboard.type("contact")
        tab_to(page, "form.filter button")
        page.keyboard.press("Enter")
        page.wait_for_url("**/inquiries?form=contact*")
        tab_to(page, f'a[href="/inquiries/{submission_id}"]')
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name=f"Inquiry {submission_id}")).to_be_visible()

        # Status: typing a label's first letters picks it in the focused select.
        tab_to(page, "#workflow-status")
        page.keyboard.type("In progress")
        assert page.evaluate("document.activeElement.value") == "in_progress"
        tab_to(page, 'form[action$="/status"] button')
        page.keyboard.press("Space")
        expect(page.locator("#workflow dl dd").first).to_have_text("In progress")
        # The panel was swapped: the focus is back on the button pressed, not at the page's top.
        expect(page.locator("#workflow-set-status")).to_be_focused()

        tab_to(page, "#workflow-note")
        page.keyboard.type("Typed without a mouse.")
        tab_to(page, 'form[action$="/notes"] button')
        page.keyboard.press("Enter")
        expect(page.locator(".notes li")).to_contain_text(["Typed without a mouse."])
        expect(page.locator("#workflow-add-note")).to_be_focused()
        screenshot(page, "inbox-keyboard", full_page=True)
    finally:
        context.close()
    stored = load_submission(module_redis, submission_id)
    assert stored is not None
    assert stored.inquiry_status == "in_progress"
    assert [(n.author, n.text) for n in stored.notes] == [(DESK, "Typed without a mouse.")]
