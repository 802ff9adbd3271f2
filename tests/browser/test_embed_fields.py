"""The typed fields in Chromium, through the embed script: the contact form's "preferred appointment
date" gets the form's bounds counted from the site's today (America/New_York in the clinic site),
a date, time, number or option the server would refuse is shown before anything is sent, and a
good choice of every type reaches the staff email — in plain markup (``index.html``, rendered from
the public definition) and in Webflow markup (``webflow.html``, its inputs written by hand).

The module's copy of the clinic site gives the contact form the other typed fields too, and its
copy of ``webflow.html`` their Webflow markup.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator

import pytest
import redis
from playwright.sync_api import Page, expect

from tests.browser.conftest import BrowserStack, stored
from tests.browser.test_embed import (
    PAGE_IDS,
    PAGES,
    SUCCESS,
    FormPage,
    ann,
    field,
    fill,
    open_form,
    past_time_trap,
    record_posts,
)
from tests.conftest import Inbox

__all__ = ["ann"]

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)

EXTRA_FIELDS = """\
  - {name: visit_time, label: Preferred time, type: time, min: "08:00", max: "18:00"}
  - {name: visits, label: Visits so far, type: number, min: 0, max: 50, step: 1}
  - {name: reach, label: How to reach you, type: radio, options: [Phone, Email]}
  - {name: days, label: Days that suit, type: checkbox_group, options: [Monday, Tuesday, Friday]}
  - {name: campaign, label: Campaign, type: hidden, value: winter-leaflet}
phone:"""


def _webflow_choice(kind: str, name: str, value: str) -> str:
    """One Webflow radio button or checkbox (``kind``: ``radio`` or ``checkbox``) with its label."""
    return (
        f'    <label class="w-{kind}"><input type="{kind}" name="{name}" value="{value}"'
        f' class="w-{kind}-input"><span class="w-form-label">{value}</span></label>\n'
    )


WEBFLOW_FIELDS = (
    """
    <label for="visit_time">Preferred time</label>
    <input class="w-input" name="visit_time" data-name="Preferred time" type="text" id="visit_time">
    <label for="visits">Visits so far</label>
    <input class="w-input" name="visits" data-name="Visits so far" type="text" id="visits">
"""
    + "".join(_webflow_choice("radio", "reach", v) for v in ("Phone", "Email"))
    + "".join(_webflow_choice("checkbox", "days", v) for v in ("Monday", "Tuesday", "Friday"))
    + '    <input type="submit"'
)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    module_redis: redis.Redis,
    mail_server: tuple[Inbox, int],
) -> Iterator[BrowserStack]:
    running = BrowserStack(tmp_path_factory.mktemp("browser-fields"), mail_server[1])
    form = running.site_dir / "forms" / "contact.yaml"
    form.write_text(form.read_text().replace("phone:", EXTRA_FIELDS, 1))
    webflow = running.static_dir / "webflow.html"
    webflow.write_text(webflow.read_text().replace('\n    <input type="submit"', WEBFLOW_FIELDS, 1))
    try:
        running.up()
        yield running
    finally:
        running.down()


def site_today() -> dt.date:
    """Today in the clinic site's time zone (``site.yaml``)."""
    return dt.datetime.now(zoneinfo.ZoneInfo("America/New_York")).date()


@pytest.mark.parametrize("form_page", PAGES, ids=PAGE_IDS)
def test_date_gets_the_site_bounds_and_an_early_date_is_refused_before_sending(
    page: Page,
    ann: dict[str, str],
    stack: BrowserStack,
    inbox: Inbox,
    module_redis: redis.Redis,
    form_page: FormPage,
) -> None:
    today = site_today()
    before = stored(module_redis)
    posts = record_posts(page)
    opened = open_form(page, f"{stack.site}/{form_page.path}")
    date = field(page, "preferred_date")
    # Webflow's text input became a date picker; both carry the bounds of the site's today.
    expect(date).to_have_attribute("type", "date")
    expect(date).to_have_attribute("min", (today + dt.timedelta(days=1)).isoformat())
    expect(date).to_have_attribute("max", (today + dt.timedelta(days=90)).isoformat())
    fill(page, ann)
    date.fill(today.isoformat())
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()

    expect(page.locator(".frontdesk-field-error")).to_have_text(["Choose a later date."])
    expect(date).to_have_attribute("aria-invalid", "true")
    expect(page.locator(form_page.fail)).to_be_visible()
    assert posts == []

    chosen = today + dt.timedelta(days=7)
    date.fill(chosen.isoformat())
    page.locator("form [type=submit]").click()
    expect(page.locator(form_page.done)).to_have_text(SUCCESS)
    [message] = inbox.wait(1, timeout=30)
    body = message.get_body(("plain",))
    assert body is not None
    assert f"Preferred appointment date: {chosen.isoformat()}" in body.get_content()
    assert stored(module_redis) == before + 1
    [post] = posts
    assert chosen.isoformat() in (post.post_data or "")


@pytest.mark.parametrize("form_page", PAGES, ids=PAGE_IDS)
def test_every_typed_field_is_checked_and_delivered(
    page: Page,
    ann: dict[str, str],
    stack: BrowserStack,
    inbox: Inbox,
    form_page: FormPage,
) -> None:
    posts = record_posts(page)
    opened = open_form(page, f"{stack.site}/{form_page.path}")
    expect(field(page, "visit_time")).to_have_attribute("type", "time")
    expect(field(page, "visits")).to_have_attribute("type", "number")
    expect(field(page, "visits")).to_have_attribute("step", "1")
    assert page.locator('form [name="campaign"]').count() == 0
    fill(page, ann)
    field(page, "visit_time").fill("07:30")
    field(page, "visits").fill("2.5")
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()
    expect(page.locator(".frontdesk-field-error")).to_have_text(
        ["Choose a later time.", "Enter a number on the allowed steps."]
    )
    assert posts == []

    field(page, "visit_time").fill("09:30")
    field(page, "visits").fill("3")
    page.locator('form [name="reach"][value="Email"]').check()
    page.locator('form [name="days"][value="Friday"]').check()
    page.locator('form [name="days"][value="Tuesday"]').check()
    page.locator("form [type=submit]").click()
    expect(page.locator(form_page.done)).to_have_text(SUCCESS)
    [message] = inbox.wait(1, timeout=30)
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content().replace("\r\n", "\n")
    assert "Preferred time: 09:30" in text
    assert "Visits so far: 3" in text
    assert "How to reach you: Email" in text
    assert "Days that suit: \n  Tuesday\n  Friday\n" in text
    assert "Campaign: winter-leaflet" in text
