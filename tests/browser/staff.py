"""Staff in the browser tests: asking for a sign-in link, finding it in the SMTP catcher, signing a
fresh browser context in, and inquiries made through the forms API.

Every context made here is watched by the test's :class:`~tests.browser.csp.CspGuard`.
"""

from __future__ import annotations

import re
import time
from email.message import EmailMessage

import httpx
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.conftest import BrowserStack
from tests.browser.csp import CspGuard
from tests.conftest import Inbox

LINK = re.compile(r"(http://\S+/sign-in/link\?token=\S+)")
SIGN_IN_SUBJECT = "Your Frontdesk sign-in link"


def ask_for_link(page: Page, stack: BrowserStack, address: str) -> None:
    """Ask for a sign-in link for ``address`` in ``page``'s browser (the mouse way)."""
    page.goto(f"{stack.inbox}/sign-in")
    page.get_by_label("Your staff email address").fill(address)
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.get_by_role("heading", name="Check your mail").wait_for()


def mailed_link(mail: Inbox, address: str, seen: int, timeout: float = 20) -> str:
    """The link of the first sign-in mail to ``address`` after the catcher's first ``seen``
    envelopes (the worker mails staff each new inquiry too: only sign-in mails are looked at)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in mail.wait(len(mail.envelopes) + 1, timeout=0.5)[seen:]:
            if message["Subject"] == SIGN_IN_SUBJECT and address in str(message["To"]):
                found = LINK.search(text_of(message))
                assert found, text_of(message)
                return found.group(1)
    raise AssertionError(f"no sign-in mail to {address} within {timeout} s")


def text_of(message: EmailMessage) -> str:
    """The plain-text body of ``message``."""
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def new_link(page: Page, stack: BrowserStack, mail: Inbox, address: str) -> str:
    """Ask for a link in ``page``'s browser and return it from the mail (not opened)."""
    seen = len(mail.envelopes)
    ask_for_link(page, stack, address)
    return mailed_link(mail, address, seen)


def signed_in(
    browser: Browser,
    stack: BrowserStack,
    mail: Inbox,
    csp: CspGuard,
    address: str,
    javascript: bool = True,
    width: int = 1280,
) -> tuple[BrowserContext, Page]:
    """A fresh context (watched by ``csp``) signed in as ``address`` through the mailed link,
    its page on the list of inquiries. The caller closes the context."""
    context = csp.watch(
        browser.new_context(
            java_script_enabled=javascript, viewport={"width": width, "height": 900}
        )
    )
    page = context.new_page()
    page.goto(new_link(page, stack, mail, address))
    page.get_by_role("heading", name="Inquiries").wait_for()
    return context, page


def post_inquiry(stack: BrowserStack, name: str, email: str, message: str, **extra: str) -> str:
    """A new contact inquiry through the forms API; its id. ``message`` must differ between tests:
    the same post again within 10 minutes is a duplicate."""
    answer = httpx.post(
        f"{stack.forms}/v1/forms/contact/submissions",
        json={"name": name, "email": email, "phone": "+1 415 555 0177", "message": message} | extra,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def csrf_of(page: Page) -> str:
    """The CSRF token the page carries (every signed-in page has one in its sign-out form)."""
    token = page.locator('input[name="_csrf"]').first.get_attribute("value")
    assert token
    return token
