"""The example static site in Chromium: the clinic page from the content API, and the contact form
through the embed script (plain markup on ``index.html``, Webflow markup on ``webflow.html``) and
without JavaScript (``contact.html``). Every test leaves a screenshot in ``test-results/browser/``."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest
import redis
from playwright.sync_api import Locator, Page, Request, expect

from tests.browser.conftest import BrowserStack, screenshot, stored
from tests.conftest import Inbox

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)

SUCCESS = "Thank you! Your submission has been received!"
FAILURE = "Oops! Something went wrong while submitting the form."
# The time trap's default minimum fill time (docs/forms.md). The browser waits it out before submitting,
# so these tests hold once the forms service quarantines faster submissions.
MIN_FILL_SECONDS = 3.0
ANN = {
    "name": "Ann Example",
    "email": "ann@example.com",
    "phone": "+1 415 555 2671",
    "message": "My knee hurts after running.",
}


@pytest.fixture
def ann(request: pytest.FixtureRequest) -> dict[str, str]:
    """Ann's inquiry with a message of this test's own. The services and the store live across the
    module's tests, and the forms service answers the same email, phone and message within 10
    minutes with the first submission's id and sends no second email (docs/forms.md): a shared
    body would make every test after the first wait in vain for its email."""
    # Two lines: browsers submit a textarea's line break as CRLF, which must be accepted.
    return {**ANN, "message": f"{ANN['message']}\nIt started in May. ({request.node.name})"}


@dataclass(frozen=True)
class FormPage:
    path: str
    done: str
    fail: str


PAGES = [
    FormPage("index.html", "[data-frontdesk-done]", "[data-frontdesk-fail]"),
    FormPage("webflow.html", ".w-form-done", ".w-form-fail"),
]
PAGE_IDS = [p.path for p in PAGES]


def field(page: Page, name: str) -> Locator:
    """The control named ``name`` by its ``name`` or, failing that, its ``data-name``."""
    return page.locator(f'form [name="{name}"], form [data-name="{name}"]:not([name])')


def open_form(page: Page, url: str) -> float:
    """Open ``url`` and return when its form and time-trap token are there (the clock starts then)."""
    page.goto(url)
    page.locator("form [type=submit]").wait_for()
    # The script fetches the token once it has loaded, which may be after the form shows.
    page.wait_for_load_state("networkidle")
    return time.monotonic()


def fill(page: Page, values: dict[str, str]) -> None:
    for name, value in values.items():
        field(page, name).fill(value)


def past_time_trap(page: Page, opened: float) -> None:
    remaining = MIN_FILL_SECONDS + 0.5 - (time.monotonic() - opened)
    if remaining > 0:
        page.wait_for_timeout(remaining * 1000)


def record_posts(page: Page) -> list[Request]:
    posts: list[Request] = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    return posts


@pytest.mark.full_page
def test_index_renders_every_section_and_the_empty_states(page: Page, stack: BrowserStack) -> None:
    page.goto(f"{stack.site}/index.html")
    sections = page.locator("main > section")
    expect(sections).to_have_count(14)
    types = {sections.nth(i).get_attribute("data-section-type") for i in range(14)}
    assert types == {"rich_text", "list", "comparison", "steps", "collection", "form"}
    expect(page.locator("h1")).to_have_text("Dry Needling Therapy for Joint Pain")
    expect(page.locator("main .empty")).to_have_text(
        ["No items found."] * 5 + ["No posts published yet."]
    )
    expect(page.locator("#dry-needling-vs-acupuncture tbody tr")).to_have_count(5)
    expect(page.locator("#what-to-expect-during-your-session ol.steps > li")).to_have_count(3)
    expect(page.locator("#related-therapies ul.items > li")).to_have_count(3)
    expect(page.locator("#get-in-touch form[data-frontdesk-form=contact]")).to_be_visible()


@pytest.mark.parametrize("form_page", PAGES, ids=PAGE_IDS)
def test_valid_submission_shows_success_and_mails_staff(
    page: Page,
    ann: dict[str, str],
    stack: BrowserStack,
    inbox: Inbox,
    module_redis: redis.Redis,
    form_page: FormPage,
) -> None:
    before = stored(module_redis)
    posts = record_posts(page)
    opened = open_form(page, f"{stack.site}/{form_page.path}")
    fill(page, ann)
    status = page.locator(".frontdesk-phone-status")
    expect(status).to_have_text("Valid number")
    expect(status).to_have_class("frontdesk-phone-status is-valid")
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()

    expect(page.locator(form_page.done)).to_be_visible()
    expect(page.locator(form_page.done)).to_have_text(SUCCESS)
    expect(page.locator("form")).to_be_hidden()
    expect(page.locator(form_page.fail)).to_be_hidden()

    [message] = inbox.wait(1, timeout=30)
    assert message["To"] == "frontdesk@clinic.example"
    assert message["Reply-To"].addresses[0].addr_spec == "ann@example.com"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "+14155552671" in text
    assert all(line in text for line in ann["message"].splitlines())
    assert stored(module_redis) == before + 1

    [post] = posts
    assert post.url == f"{stack.forms}/v1/forms/contact/submissions"
    assert post.headers["idempotency-key"]
    assert post.headers["accept"] == "application/json"
    assert post.headers["content-type"].startswith("multipart/form-data")
    # The time-trap token from GET /v1/forms/contact travels as `_token`.
    assert 'name="_token"' in (post.post_data or "")


TOPICS = ["Back pain", "Sports injury", "Billing", "Other"]


def choose_topic_and_send(page: Page, url: str, ann: dict[str, str], topic: str) -> None:
    """Open ``url``, check its topic select offers the form's options, choose ``topic`` and send."""
    opened = open_form(page, url)
    topic_select = field(page, "topic")
    expect(topic_select).to_be_visible()
    options = topic_select.locator("option")
    # A placeholder first ("Choose…", Webflow's "Select one..."), then the form's options.
    expect(options).to_have_text([re.compile(r"\S"), *TOPICS])
    fill(page, ann)
    topic_select.select_option(topic)
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()


@pytest.mark.parametrize(
    ("form_page", "topic", "to"),
    [
        (PAGES[0], "Back pain", "physio-a@clinic.example"),
        (PAGES[1], "Billing", "office@clinic.example"),
        (PAGES[1], "Sports injury", "frontdesk@clinic.example"),
    ],
    ids=["index.html-back-pain", "webflow.html-billing", "webflow.html-unrouted"],
)
def test_topic_routes_the_staff_email(
    page: Page,
    ann: dict[str, str],
    stack: BrowserStack,
    inbox: Inbox,
    form_page: FormPage,
    topic: str,
    to: str,
) -> None:
    choose_topic_and_send(page, f"{stack.site}/{form_page.path}", ann, topic)
    expect(page.locator(form_page.done)).to_have_text(SUCCESS)
    [message] = inbox.wait(1, timeout=30)
    assert message["To"] == to
    assert inbox.envelopes[0].rcpt_tos == [to]
    body = message.get_body(("plain",))
    assert body is not None
    assert topic in body.get_content()


@pytest.mark.no_javascript
def test_contact_page_without_javascript_routes_by_topic(
    page: Page, ann: dict[str, str], stack: BrowserStack, inbox: Inbox
) -> None:
    choose_topic_and_send(page, f"{stack.site}/contact.html", ann, "Back pain")
    page.wait_for_url(f"{stack.site}/thanks.html")
    [message] = inbox.wait(1, timeout=30)
    assert message["To"] == "physio-a@clinic.example"


@pytest.mark.parametrize("form_page", PAGES, ids=PAGE_IDS)
def test_invalid_phone_shows_the_field_error_and_sends_nothing(
    page: Page,
    ann: dict[str, str],
    stack: BrowserStack,
    inbox: Inbox,
    module_redis: redis.Redis,
    form_page: FormPage,
) -> None:
    before = stored(module_redis)
    opened = open_form(page, f"{stack.site}/{form_page.path}")
    fill(page, {**ann, "phone": "12"})
    status = page.locator(".frontdesk-phone-status")
    expect(status).to_have_text("Invalid number")
    expect(status).to_have_class("frontdesk-phone-status is-invalid")
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()

    phone = field(page, "phone")
    expect(page.locator(".frontdesk-field-error")).to_have_text(["Invalid number"])
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(phone).to_be_focused()
    expect(page.locator(form_page.fail)).to_be_visible()
    expect(page.locator(form_page.fail)).to_have_text(FAILURE)
    expect(page.locator(form_page.done)).to_be_hidden()
    expect(field(page, "name")).to_have_value(ann["name"])
    screenshot(page, f"invalid-phone-{form_page.path}")
    assert stored(module_redis) == before
    assert inbox.envelopes == []

    # Correcting the number and sending again clears the error and goes through.
    field(page, "phone").fill(ann["phone"])
    page.locator("form [type=submit]").click()
    expect(page.locator(form_page.done)).to_be_visible()
    expect(phone).not_to_have_attribute("aria-invalid", "true")
    assert len(inbox.wait(1, timeout=30)) == 1


@pytest.mark.parametrize("form_page", PAGES, ids=PAGE_IDS)
def test_unavailable_store_shows_failure_and_keeps_the_values(
    page: Page, ann: dict[str, str], stack: BrowserStack, inbox: Inbox, form_page: FormPage
) -> None:
    posts = record_posts(page)
    opened = open_form(page, f"{stack.site}/dead/{form_page.path}")
    fill(page, ann)
    past_time_trap(page, opened)
    # As typed (intl-tel-input shows the dial code apart from the number on webflow.html).
    typed = {name: field(page, name).input_value() for name in ann}
    submit = page.locator("form [type=submit]")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        submit.click()
    assert answer.value.status == 503

    expect(page.locator(form_page.fail)).to_be_visible()
    expect(page.locator(form_page.fail)).to_have_text(FAILURE)
    expect(page.locator(form_page.done)).to_be_hidden()
    expect(page.locator("form")).to_be_visible()
    for name, value in typed.items():
        expect(field(page, name)).to_have_value(value)
    label = "Submit"
    if form_page.path == "webflow.html":
        expect(submit).to_have_value(label)
    else:
        expect(submit).to_have_text(label)

    # A retry of the same inquiry reuses its Idempotency-Key; a changed inquiry gets a new one.
    with page.expect_response(lambda r: r.request.method == "POST"):
        submit.click()
    field(page, "message").fill("A different question.")
    with page.expect_response(lambda r: r.request.method == "POST"):
        submit.click()
    keys = [p.headers["idempotency-key"] for p in posts]
    assert len(keys) == 3
    assert keys[0] == keys[1]
    assert keys[2] != keys[1]
    assert inbox.envelopes == []


@pytest.mark.parametrize("form_page", PAGES, ids=PAGE_IDS)
def test_double_click_makes_one_submission(
    page: Page,
    ann: dict[str, str],
    stack: BrowserStack,
    inbox: Inbox,
    module_redis: redis.Redis,
    form_page: FormPage,
) -> None:
    before = stored(module_redis)
    posts = record_posts(page)
    opened = open_form(page, f"{stack.site}/{form_page.path}")
    fill(page, ann)
    past_time_trap(page, opened)
    page.locator("form [type=submit]").dblclick()

    expect(page.locator(form_page.done)).to_be_visible()
    assert len(inbox.wait(1, timeout=30)) == 1
    # Give a second message, if one had been queued, the time to arrive before counting.
    assert len(inbox.wait(2, timeout=3)) == 1
    assert stored(module_redis) == before + 1
    assert len({p.headers["idempotency-key"] for p in posts}) == 1


@pytest.mark.no_javascript
def test_contact_page_without_javascript_lands_on_thanks(
    page: Page, ann: dict[str, str], stack: BrowserStack, inbox: Inbox, module_redis: redis.Redis
) -> None:
    before = stored(module_redis)
    opened = open_form(page, f"{stack.site}/contact.html")
    fill(page, ann)
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()

    page.wait_for_url(f"{stack.site}/thanks.html")
    expect(page.locator("h1")).to_have_text(SUCCESS)
    assert len(inbox.wait(1, timeout=30)) == 1
    assert stored(module_redis) == before + 1


@pytest.mark.no_javascript
def test_contact_page_without_javascript_shows_the_field_error_and_a_way_back(
    page: Page, ann: dict[str, str], stack: BrowserStack, module_redis: redis.Redis
) -> None:
    before = stored(module_redis)
    form_url = f"{stack.site}/contact.html"
    opened = open_form(page, form_url)
    fill(page, {**ann, "phone": "12"})
    past_time_trap(page, opened)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator("form [type=submit]").click()

    # The forms service's own page: the form's error text, each refused field by its label.
    assert answer.value.status == 422
    expect(page.locator("h1")).to_have_text(FAILURE)
    expect(page.locator("main li")).to_have_text(["Phone: Invalid number"])
    back = page.get_by_role("link", name="Go back")
    # contact.html sends its full address as Referer (its referrer meta tag): the link leads there.
    expect(back).to_have_attribute("href", form_url)
    screenshot(page, "no-javascript-field-error")
    assert stored(module_redis) == before

    # The browser's Back button returns to the form with what was typed.
    page.go_back()
    page.wait_for_url(form_url)
    expect(field(page, "name")).to_have_value(ann["name"])
    expect(field(page, "phone")).to_have_value("12")
    # And the page's link, without JavaScript, opens the form again.
    page.locator("form [type=submit]").click()
    page.get_by_role("link", name="Go back").click()
    page.wait_for_url(form_url)
    expect(page.locator("form [type=submit]")).to_be_visible()
    assert stored(module_redis) == before


def test_intl_tel_input_country_is_sent_with_the_phone(
    page: Page, ann: dict[str, str], stack: BrowserStack, inbox: Inbox, module_redis: redis.Redis
) -> None:
    posts = record_posts(page)
    opened = open_form(page, f"{stack.site}/webflow.html")
    page.locator(".iti__selected-country").click()
    page.locator(".iti__search-input").fill("United Kingdom")
    page.locator('.iti__country[data-iso2="gb"]').click()
    # A London number written nationally: possible only when read in GB, not in the page's US.
    fill(page, {**ann, "phone": "020 7183 8750"})
    expect(page.locator(".frontdesk-phone-status")).to_have_text("Valid number")
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()

    expect(page.locator(".w-form-done")).to_be_visible()
    [message] = inbox.wait(1, timeout=30)
    body = message.get_body(("plain",))
    assert body is not None
    assert "+442071838750" in body.get_content()
    [post] = posts
    assert 'name="phone_country"\r\n\r\nGB\r\n' in (post.post_data or "")


@pytest.mark.parametrize("form_page", PAGES, ids=PAGE_IDS)
def test_submit_button_shows_the_wait_label_while_sending(
    page: Page, ann: dict[str, str], stack: BrowserStack, inbox: Inbox, form_page: FormPage
) -> None:
    opened = open_form(page, f"{stack.site}/dead/{form_page.path}")
    # Record every label the button shows, whatever the timing (a MutationObserver sees each one).
    page.evaluate(
        """() => {
          const button = document.querySelector("form [type=submit]");
          const label = () => button.tagName === "INPUT" ? button.value : button.textContent;
          window.labels = [label()];
          new MutationObserver(() => window.labels.push(label())).observe(
            button, {attributes: true, childList: true, characterData: true, subtree: true});
        }"""
    )
    fill(page, ann)
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()
    expect(page.locator(form_page.fail)).to_be_visible()
    labels = page.evaluate("window.labels")
    assert labels[0] == "Submit"
    assert "Please wait..." in labels
    assert labels[-1] == "Submit"


def test_webflow_data_redirect_navigates_after_success(
    page: Page, ann: dict[str, str], stack: BrowserStack, inbox: Inbox
) -> None:
    opened = open_form(page, f"{stack.site}/webflow.html")
    page.evaluate("document.querySelector('form').setAttribute('data-redirect', '/thanks.html')")
    fill(page, ann)
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()
    page.wait_for_url(f"{stack.site}/thanks.html")
    assert len(inbox.wait(1, timeout=30)) == 1


def test_page_on_an_origin_the_form_does_not_allow_cannot_submit(
    page: Page, ann: dict[str, str], stack: BrowserStack, inbox: Inbox, module_redis: redis.Redis
) -> None:
    before = stored(module_redis)
    # Same files, but http://localhost:<port> is another origin than the allowed http://127.0.0.1:<port>.
    other = stack.site.replace("127.0.0.1", "localhost")
    opened = open_form(page, f"{other}/webflow.html")
    fill(page, ann)
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()

    expect(page.locator(".w-form-fail")).to_be_visible()
    expect(page.locator(".w-form-fail")).to_have_text(FAILURE)
    expect(field(page, "email")).to_have_value(ann["email"])
    assert stored(module_redis) == before
    assert inbox.envelopes == []


def test_form_without_boxes_gets_the_servers_messages(
    page: Page, ann: dict[str, str], stack: BrowserStack, inbox: Inbox
) -> None:
    opened = open_form(page, f"{stack.site}/minimal.html")
    fill(page, {**ann, "email": "ann@"})
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()
    # The 422's `message` (the form's error text) in a failure box the script made.
    expect(page.locator(".frontdesk-fail")).to_have_text(FAILURE)
    expect(page.locator(".frontdesk-fail")).to_have_attribute("role", "alert")
    expect(field(page, "email")).to_be_focused()
    expect(page.locator(".frontdesk-field-error")).to_have_text(["Enter a valid email address."])

    field(page, "email").fill(ann["email"])
    page.locator("form [type=submit]").click()
    expect(page.locator(".frontdesk-done")).to_have_text(SUCCESS)
    expect(page.locator(".frontdesk-done")).to_have_attribute("role", "status")
    expect(page.locator(".frontdesk-fail")).to_be_hidden()
    assert len(inbox.wait(1, timeout=30)) == 1


def test_script_hosted_elsewhere_uses_the_forms_data_frontdesk_api(
    page: Page, ann: dict[str, str], stack: BrowserStack, inbox: Inbox
) -> None:
    posts = record_posts(page)
    opened = open_form(page, f"{stack.site}/self-hosted.html")
    fill(page, ann)
    expect(page.locator(".frontdesk-phone-status")).to_have_text("Valid number")
    past_time_trap(page, opened)
    page.locator("form [type=submit]").click()
    expect(page.locator(".frontdesk-done")).to_have_text(SUCCESS)
    assert [p.url for p in posts] == [f"{stack.forms}/v1/forms/contact/submissions"]
    assert len(inbox.wait(1, timeout=30)) == 1


def test_idempotency_key_is_renewed_after_a_success(
    page: Page, ann: dict[str, str], stack: BrowserStack, inbox: Inbox
) -> None:
    posts = record_posts(page)
    opened = open_form(page, f"{stack.site}/minimal.html")
    fill(page, ann)
    past_time_trap(page, opened)
    with page.expect_response(lambda r: r.request.method == "POST") as first:
        page.locator("form [type=submit]").click()
    expect(page.locator(".frontdesk-done")).to_be_visible()
    # The script fetches a fresh token after a success; the time trap counts from that one.
    page.wait_for_load_state("networkidle")
    renewed = time.monotonic()

    # The same words sent again after a success go with a new key, not as a replay of the first;
    # the server's duplicate detection (not the key) folds them into the first submission.
    page.evaluate("document.querySelector('form').style.display = 'block'")
    fill(page, ann)
    past_time_trap(page, renewed)
    with page.expect_response(lambda r: r.request.method == "POST") as second:
        page.locator("form [type=submit]").click()
    keys = [p.headers["idempotency-key"] for p in posts]
    assert len(keys) == 2
    assert keys[0] != keys[1]
    assert second.value.status == 201
    assert second.value.json()["id"] == first.value.json()["id"]
    assert len(inbox.wait(1, timeout=30)) == 1
    # Give a second message, if one had been queued, the time to arrive before counting.
    assert len(inbox.wait(2, timeout=3)) == 1
