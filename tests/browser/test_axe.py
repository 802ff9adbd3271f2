"""The accessibility check itself finds what it must (a check that cannot fail proves nothing)."""

from __future__ import annotations

from playwright.sync_api import Browser

from tests.browser.axe import violations


def test_axe_reports_an_image_without_text_and_a_field_without_a_label(browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.set_content(
            '<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
            '<img src="data:,"><input type="text"></main></body></html>'
        )
        found = {v["id"] for v in violations(page)}
    finally:
        context.close()
    assert {"image-alt", "label"} <= found
