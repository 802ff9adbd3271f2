"""Where an inquiry came from, in Chromium: the embed script (plain and Webflow markup) posts the
page's URL, title and ``utm_*`` parameters as reserved fields, and the stored record keeps the
path without query or fragment and the five standard parameters apart; a post without JavaScript
is placed by its ``Referer``. Each staff email shows it.
"""

from __future__ import annotations

import msgspec
import pytest
import redis
from playwright.sync_api import Page, expect

from frontdesk.submissions.record import Source, Submission
from tests.browser.conftest import BrowserStack
from tests.browser.test_embed import ANN, fill, open_form, past_time_trap, record_posts
from tests.conftest import Inbox

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)

QUERY = "?utm_source=newsletter&utm_medium=email&utm_campaign=spring&gclid=abc&session=s3cret"


def _record_with(module_redis: redis.Redis, message: str) -> Submission:
    """The stored submission whose message is ``message``."""
    for key in module_redis.scan_iter("frontdesk:submission:*"):
        raw = module_redis.get(key)
        if raw is None:
            continue
        record = msgspec.json.decode(raw, type=Submission)
        if record.fields.get("message", "").replace("\r\n", "\n") == message:
            return record
    raise AssertionError(f"no submission with the message {message!r}")


@pytest.mark.parametrize(
    ("path", "done"), [("index.html", "[data-frontdesk-done]"), ("webflow.html", ".w-form-done")]
)
def test_the_embed_script_sends_the_page_title_and_utm(
    page: Page,
    stack: BrowserStack,
    inbox: Inbox,
    module_redis: redis.Redis,
    path: str,
    done: str,
) -> None:
    message = f"Where did I come from? ({path})"
    posts = record_posts(page)
    opened = open_form(page, f"{stack.site}/{path}{QUERY}#get-in-touch")
    title = page.title()
    assert title
    fill(page, {**ANN, "message": message})
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()
    expect(page.locator(done)).to_be_visible()

    [post] = posts
    sent = post.post_data or ""
    for name in ("_source_url", "_source_title", "_utm_source", "_utm_medium", "_utm_campaign"):
        assert f'name="{name}"' in sent
    assert f"{stack.site}/{path}{QUERY}#get-in-touch" in sent
    assert 'name="_gclid"' not in sent

    record = _record_with(module_redis, message)
    assert record.source == Source(
        url=f"{stack.site}/{path}",
        title=title,
        utm={"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "spring"},
        via="page",
    )
    [mail] = inbox.wait(1, timeout=30)
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert f"Sent from: {stack.site}/{path}" in text
    assert "utm_campaign: spring" in text
    assert "s3cret" not in text


@pytest.mark.no_javascript
def test_a_post_without_javascript_is_placed_by_its_referer(
    page: Page, stack: BrowserStack, inbox: Inbox, module_redis: redis.Redis
) -> None:
    message = "Where did I come from? (no JavaScript)"
    opened = open_form(page, f"{stack.site}/contact.html?utm_source=flyer#form")
    fill(page, {**ANN, "message": message})
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()
    page.wait_for_url(f"{stack.site}/thanks.html")

    record = _record_with(module_redis, message)
    # contact.html's referrer meta tag sends its whole address; the fragment never travels.
    assert record.source == Source(
        url=f"{stack.site}/contact.html", utm={"utm_source": "flyer"}, via="referer"
    )
    assert len(inbox.wait(1, timeout=30)) == 1
