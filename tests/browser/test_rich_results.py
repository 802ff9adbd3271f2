"""The example site puts the page's JSON-LD into one ``<script type="application/ld+json">`` as
text: a question that tries to close the script element and open its own stays text, in Chromium.
"""

from __future__ import annotations

import json
import textwrap
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from playwright.sync_api import Dialog, Page, expect

from tests.browser.conftest import BrowserStack
from tests.conftest import Inbox

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)

SLUG = "dry-needling-therapy-for-joint-pain"
ATTACK = "</script><script>alert(1)</script>"
ITEMS = {
    "collections/faqs/attack.yaml": f"""
        question: "Is {ATTACK} & <b>this</b> safe?"
        answer: "Yes {ATTACK} & it stays text."
    """,
    "collections/faqs/does-it-hurt.yaml": """
        question: Does dry needling hurt?
        answer: Most people feel a brief twitch, then relief.
    """,
    "collections/professionals/ana.yaml": f"""
        name: "Ana {ATTACK} Lima"
        role: Physical Therapist
    """,
}


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    module_redis: redis.Redis,
    mail_server: tuple[Inbox, int],
) -> Iterator[BrowserStack]:
    """The browser stack over a clinic site copy whose FAQ and professionals have items."""
    running = BrowserStack(tmp_path_factory.mktemp("rich"), mail_server[1])
    for name, text in ITEMS.items():
        (running.site_dir / name).write_text(textwrap.dedent(text).lstrip())
    try:
        running.up()
        yield running
    finally:
        running.down()


def test_the_example_site_inserts_json_ld_as_text(page: Page, stack: BrowserStack) -> None:
    dialogs: list[str] = []

    def dismissed(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismissed)
    with urllib.request.urlopen(f"{stack.content}/v1/pages/{SLUG}") as answer:
        expected = json.loads(answer.read())["structured_data_json"]

    page.goto(f"{stack.site}/index.html")
    expect(page.locator("h1")).to_have_text("Dry Needling Therapy for Joint Pain")
    ld = page.locator('script[type="application/ld+json"]')
    expect(ld).to_have_count(1)
    assert ld.text_content() == expected
    data = json.loads(expected)
    assert [o["@type"] for o in data] == ["Physiotherapy", "FAQPage", "Person"]
    questions = [q["name"] for q in data[1]["mainEntity"]]
    assert f"Is {ATTACK} & <b>this</b> safe?" in questions
    assert data[2]["name"] == f"Ana {ATTACK} Lima"

    # Nothing of the text became markup: one script element in the head (the JSON-LD), no script
    # element anywhere whose text is the attack's, no <b> outside the JSON, no alert.
    scripts = page.evaluate(
        "() => Array.from(document.scripts, s => [s.type, s.parentElement.tagName, s.text])"
    )
    assert [s for s in scripts if "alert(1)" in s[2] and s[0] != "application/ld+json"] == []
    assert [s[:2] for s in scripts if s[0] == "application/ld+json"] == [
        ["application/ld+json", "HEAD"]
    ]
    assert page.locator("b").count() == 0
    # The question is shown on the page as text too.
    expect(page.get_by_text(f"Is {ATTACK} & <b>this</b> safe?")).to_be_visible()
    assert dialogs == []
