"""Every inbox page in the system Chromium, on a store with work in it (four inquiries, one of them
quarantined; a note, a reply, an assignee; audit entries): axe-core finds no WCAG 2.2 AA
violation, nothing overflows a 375 px wide screen, and a screenshot of each page at 1280 and
375 px lands in ``test-results/inbox/<page>-<width>.png``. The pages are walked as an admin
(dpo@), who sees every page; any CSP violation fails the test.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from playwright.sync_api import Browser, Page, expect

from frontdesk.submissions.store import load_submission
from tests.browser.axe import summary, violations
from tests.browser.conftest import ROOT, BrowserStack
from tests.browser.csp import CspGuard
from tests.browser.staff import ask_for_link, mailed_link, post_inquiry, signed_in
from tests.conftest import Inbox

pytestmark = pytest.mark.browser

SHOTS = ROOT / "test-results" / "inbox"
DESK = "desk@clinic.example"
ADMIN = "dpo@clinic.example"
WIDTHS = [1280, 375]


@dataclass(frozen=True)
class Worked:
    """The store's state the pages are looked at on: ``worked`` has a note, a reply and an
    assignee; ``held`` is quarantined; ``others`` are new."""

    worked: str
    held: str
    others: tuple[str, ...]
    erase_address: str


@pytest.fixture(scope="module")
def worked(
    browser: Browser,
    stack: BrowserStack,
    mail_server: tuple[Inbox, int],
    module_redis: redis.Redis,
) -> Worked:
    """Inquiries, and a responder who worked one of them through the pages (audit entries: her
    sign-in, views, the assignee, the note, the reply)."""
    mail = mail_server[0]
    others = tuple(
        post_inquiry(stack, name, f"pages.{n}@example.com", f"Pages: {name}'s question")
        for n, name in enumerate(["Olga Other", "Piet Peters"])
    )
    held = post_inquiry(stack, "Spam Bot", "spam.bot@example.com", "Pages: buy now", _gotcha="x")
    worked = post_inquiry(stack, "Wanda Worked", "wanda.worked@example.com", "Pages: my hip")
    guard = CspGuard()
    context, page = signed_in(browser, stack, mail, guard, DESK)
    try:
        page.goto(f"{stack.inbox}/inquiries/{worked}")
        page.get_by_role("button", name="Assign to me").click()
        page.get_by_role("button", name="Assign to me").wait_for(state="detached")
        page.get_by_label("New note").fill("Asked for her X-ray.")
        page.get_by_role("button", name="Add note").click()
        page.locator(".notes li", has_text="X-ray").wait_for()
        page.get_by_label("Reply to the visitor", exact=False).fill("Please send the X-ray.")
        page.get_by_role("button", name="Send reply").click()
        page.locator("#replies .reply").wait_for()
    finally:
        context.close()
    guard.assert_none()
    record = load_submission(module_redis, held)
    assert record is not None
    assert record.status == "quarantined"
    # The reply's delivery settles before the pages are looked at.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        record = load_submission(module_redis, worked)
        assert record is not None
        if all(m.status != "queued" for m in record.messages):
            break
        time.sleep(0.2)
    return Worked(worked, held, others, "pages.0@example.com")


def settled(page: Page) -> None:
    """Wait until htmx and the page's requests are done."""
    page.wait_for_load_state("networkidle")


def every_page(page: Page, stack: BrowserStack, mail: Inbox, state: Worked) -> Iterator[str]:
    """Walk ``page`` (a fresh context) through every inbox page, signing in as the admin on
    the way; yield each page's name once it shows and settled."""
    inbox = stack.inbox
    page.goto(f"{inbox}/sign-in")
    yield "sign-in"
    seen = len(mail.envelopes)
    ask_for_link(page, stack, ADMIN)
    yield "check-mail"
    link = mailed_link(mail, ADMIN, seen)
    page.goto(f"{inbox}/sign-in/link?token=forged.link")
    expect(page.get_by_role("heading", name="This link cannot be used")).to_be_visible()
    yield "link-refused"
    page.goto(link)
    page.get_by_role("heading", name="Inquiries").wait_for()
    page.goto(f"{inbox}/inquiries?form=contact")
    expect(page.locator(f'a[href="/inquiries/{state.worked}"]')).to_have_count(1)
    yield "list"
    page.goto(f"{inbox}/inquiries/{state.worked}")
    expect(page.locator(".notes li")).to_have_count(1)
    expect(page.locator("#replies .reply")).to_have_count(1)
    yield "detail"
    page.goto(f"{inbox}/inquiries/{state.held}")
    yield "detail-quarantined"
    page.goto(f"{inbox}/quarantine")
    expect(page.locator(f'a[href="/inquiries/{state.held}"]')).to_have_count(1)
    yield "quarantine"
    page.goto(f"{inbox}/account")
    yield "account"
    # Enrolment starts (the other width's run may have started it already: a new key then).
    page.get_by_role(
        "button", name=re.compile("^(Turn on two-step sign-in|Start again with a new key)$")
    ).click()
    expect(page.get_by_label("The code the app shows now")).to_be_visible()
    yield "account-enrolment"
    page.goto(f"{inbox}/audit")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.locator("tbody tr").first).to_be_visible()
    yield "audit"
    page.goto(f"{inbox}/export")
    yield "export"
    page.get_by_role("button", name="Next: check what will be exported").click()
    expect(page.get_by_role("heading", name="Confirm the export")).to_be_visible()
    yield "export-confirm"
    page.goto(f"{inbox}/erase")
    yield "erase"
    page.get_by_label("Email address").fill(state.erase_address)
    page.get_by_role("button", name="Next: check how many").click()
    expect(page.get_by_role("heading", name="Confirm the erasure")).to_be_visible()
    yield "erase-confirm"


@pytest.mark.parametrize("width", WIDTHS)
def test_every_inbox_page_is_accessible_fits_and_is_photographed(
    browser: Browser,
    stack: BrowserStack,
    inbox: Inbox,
    csp: CspGuard,
    worked: Worked,
    width: int,
) -> None:
    context = csp.watch(browser.new_context(viewport={"width": width, "height": 900}))
    page = context.new_page()
    found: dict[str, list[str]] = {}
    overflowing: dict[str, int] = {}
    visited: list[str] = []
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        for name in every_page(page, stack, inbox, worked):
            settled(page)
            visited.append(name)
            page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
            problems = violations(page)
            if problems:
                found[name] = summary(problems)
            scroll_width = int(page.evaluate("document.documentElement.scrollWidth"))
            if scroll_width > width:
                overflowing[name] = scroll_width
    finally:
        context.close()
    assert {"sign-in", "list", "detail", "quarantine", "audit", "export", "erase"} <= set(visited)
    assert found == {}, "\n".join(f"{n}: {line}" for n, lines in found.items() for line in lines)
    assert overflowing == {}, f"wider than {width} px: {overflowing}"
