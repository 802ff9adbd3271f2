"""axe-core in the system Chromium: accessibility checks of a page against WCAG 2.2 AA.

axe-core is vendored unchanged under ``tests/browser/vendor/axe-core`` (its version, licence and
SHA-256 in ``SOURCE`` and ``SHA256SUMS``; scripts/vendor-npm.sh writes them). It is evaluated in the
page through the DevTools protocol, which a page's Content Security Policy does not govern, so the
page under test keeps its own strict CSP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
"""axe's tags for every WCAG 2.0, 2.1 and 2.2 success criterion at levels A and AA."""


def violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations of :data:`WCAG_22_AA` on what ``page`` shows now (after htmx settled:
    the caller waits for the network to be idle first).
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result: dict[str, Any] = page.evaluate(
        "tags => window.axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_22_AA
    )
    return list(result["violations"])


def summary(found: list[dict[str, Any]]) -> list[str]:
    """One line per violation: its rule, impact and the first offending element's selector."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes'][0]['target'] if v['nodes'] else '?'}"
        for v in found
    ]


def assert_accessible(page: Page) -> None:
    """Fail with axe's findings when ``page`` has any WCAG 2.2 AA violation."""
    page.wait_for_load_state("networkidle")
    found = violations(page)
    assert found == [], "\n".join(summary(found))
