"""The call-back form with ALTCHA in Chromium (``callback.html`` plain, ``callback-webflow.html`` in
Webflow markup): the embed script shows the widget, the browser solves the challenge in its
workers, the post is accepted and staff get the email. The pages carry the Content-Security-Policy
docs/embedding.md lists: a violation fails the test. Requests to any host but this machine's
servers are aborted and fail the test too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import BrowserStack, stored
from tests.conftest import Inbox

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)

PAGES = [
    ("callback.html", "[data-frontdesk-done]"),
    ("callback-webflow.html", ".w-form-done"),
]


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    module_redis: redis.Redis,
    mail_server: tuple[Inbox, int],
) -> Iterator[BrowserStack]:
    """The browser stack, the copy of ``forms/callback.yaml`` allowing the static site's origin
    and asking less work (a test solves several challenges)."""
    running = BrowserStack(tmp_path_factory.mktemp("altcha"), mail_server[1])
    form = running.site_dir / "forms" / "callback.yaml"
    form.write_text(
        form.read_text()
        .replace("http://127.0.0.1:8000", running.site)
        .replace("cost: 1000, max_number: 10000", "cost: 100, max_number: 2000")
    )
    try:
        running.up()
        yield running
    finally:
        running.down()


@pytest.fixture
def watched(page: Page) -> tuple[list[str], list[str]]:
    """``(outside, violations)``: requests to other hosts (aborted) and CSP violations."""
    outside: list[str] = []
    violations: list[str] = []

    def gate(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("blob:", "data:")) or host == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", gate)
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return outside, violations


@pytest.mark.parametrize(("path", "done"), PAGES, ids=[p for p, _ in PAGES])
def test_the_widget_solves_its_challenge_and_the_inquiry_is_delivered(
    page: Page,
    stack: BrowserStack,
    inbox: Inbox,
    module_redis: redis.Redis,
    watched: tuple[list[str], list[str]],
    path: str,
    done: str,
) -> None:
    outside, violations = watched
    before = stored(module_redis, "callback")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.post_data or "") if r.method == "POST" else None)
    page.goto(f"{stack.site}/{path}")
    widget = page.locator("form altcha-widget")
    expect(widget).to_have_count(1)
    # Placed before the button, asking this form's challenge.
    assert widget.evaluate("w => w.nextElementSibling.type") == "submit"
    assert widget.get_attribute("challenge") == f"{stack.forms}/v1/forms/callback/captcha/challenge"
    opened = time.monotonic()
    page.locator("form [name=name]").fill("Ann Example")  # focus starts the work
    page.locator("form [name=phone]").fill("+1 415 555 2671")
    page.locator("form [name=message]").fill(f"Mornings, please ({path})")
    expect(page.locator('form altcha-widget input[name="altcha"]')).not_to_have_value("")
    page.wait_for_timeout(max(0, 3500 - (time.monotonic() - opened) * 1000))  # the time trap
    page.locator("form [type=submit]").click()
    expect(page.locator(done)).to_be_visible()
    [message] = inbox.wait(1, timeout=30)
    assert message["Subject"] == "Call-back request from Ann Example"
    assert stored(module_redis, "callback") == before + 1
    [post] = posts
    assert 'name="altcha"' in post
    assert outside == []
    assert violations == []


def test_a_submit_before_the_work_is_done_waits_for_it(
    page: Page,
    stack: BrowserStack,
    inbox: Inbox,
    module_redis: redis.Redis,
    watched: tuple[list[str], list[str]],
) -> None:
    """Nothing focused the form (values set by script): "Send" starts the work, then posts."""
    outside, violations = watched
    before = stored(module_redis, "callback")
    page.goto(f"{stack.site}/callback.html")
    expect(page.locator("form altcha-widget")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    page.evaluate(
        """() => {
          const form = document.querySelector("form");
          form.name.value = "Bob Example";
          form.phone.value = "+1 415 555 2672";
          form.message.value = "Afternoons";
        }"""
    )
    page.wait_for_timeout(3500)
    assert page.locator('form altcha-widget input[name="altcha"]').input_value() == ""
    page.locator("form [type=submit]").click()
    expect(page.locator("[data-frontdesk-done]")).to_be_visible()
    inbox.wait(1, timeout=30)
    assert stored(module_redis, "callback") == before + 1
    assert outside == []
    assert violations == []
