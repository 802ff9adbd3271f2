"""Content Security Policy violations in a browser test: any one fails it.

Chromium reports a violation two ways, and :class:`CspGuard` listens to both on every page of a
context it watches:

- a console message naming "Content Security Policy" (an inline script or style, an ``eval``,
  a source the policy does not list);
- the ``securitypolicyviolation`` DOM event. A listener for it is installed in every document
  through the DevTools protocol (Playwright's init script, which the page's CSP does not govern),
  and hands each event to Python through an exposed binding, so the inbox keeps its strict CSP
  and the listener needs no inline script.

Uncaught page errors are collected too: a script the CSP broke often shows as one.
"""

from __future__ import annotations

from playwright.sync_api import BrowserContext, ConsoleMessage, Page

BINDING = "__frontdeskCspViolation"
LISTENER = f"""
document.addEventListener('securitypolicyviolation', event => {{
  window.{BINDING}(`${{event.violatedDirective}} blocked ${{event.blockedURI || 'inline'}}`
    + ` at ${{event.sourceFile || event.documentURI}}:${{event.lineNumber}}`);
}});
"""


class CspGuard:
    """What the watched contexts reported: CSP violations (both kinds) and page errors."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def watch(self, context: BrowserContext) -> BrowserContext:
        """Listen on every page ``context`` has or opens; returns ``context``."""
        context.expose_binding(
            BINDING, lambda _source, text: self.problems.append(f"event: {text}")
        )
        context.add_init_script(LISTENER)
        context.on("console", self._console)
        context.on("page", self._page)
        for page in context.pages:
            self._page(page)
        return context

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(f"console: {message.text}")

    def _page(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def assert_none(self) -> None:
        """Fail with every problem reported so far."""
        assert self.problems == [], "\n".join(self.problems)
