"""Every OpenAPI viewer under /schema renders in Chromium with every other host out of reach.

The content service, the forms service and the forms service's internal port each serve Redoc
(``/schema``, ``/schema/redoc``) and Swagger UI (``/schema/swagger``). Each page is opened with
every request to another origin aborted (``page.route``) and the Content-Security-Policy reporting
any load it refused (a refused load never reaches the network, so the route alone would miss it):
the test fails if any such request was attempted, or if the viewer shows no operation of the API.
A screenshot of each lands in ``test-results/browser/``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Route

from tests.browser.conftest import BrowserStack, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# What each viewer shows per operation.
VIEWERS = {
    "/schema": '[data-section-id^="operation/"]',
    "/schema/redoc": '[data-section-id^="operation/"]',
    "/schema/swagger": ".opblock .opblock-summary-path",
}
SERVICES = ["content", "forms", "internal"]


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.mark.parametrize("viewer", sorted(VIEWERS))
@pytest.mark.parametrize("service", SERVICES)
def test_viewer_renders_operations_from_its_own_origin_only(
    browser: Browser, stack: BrowserStack, service: str, viewer: str
) -> None:
    port = {
        "content": str(stack.content_port),
        "forms": str(stack.forms_port),
        "internal": stack.env["FRONTDESK_FORMS_INTERNAL_PORT"],
    }[service]
    origin = f"http://127.0.0.1:{port}"
    paths = list(httpx.get(f"{origin}/schema/openapi.json").json()["paths"])
    assert paths
    elsewhere: list[str] = []
    refused: list[str] = []
    context = browser.new_context()
    page = context.new_page()

    def only_this_origin(route: Route) -> None:
        url = route.request.url
        if origin_of(url) == origin:
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.route("**/*", only_this_origin)
    page.on("console", on_console)
    try:
        response = page.goto(f"{origin}{viewer}")
        assert response is not None
        assert response.status == 200
        operations = page.locator(VIEWERS[viewer])
        operations.first.wait_for(state="attached", timeout=30_000)
        assert operations.count() >= 1
        # Redoc splits a path's parameters into elements of their own: match its first segments.
        shown = [p for p in paths if page.get_by_text(p.split("{")[0]).count()]
        assert shown, f"none of {paths} is shown"
        page.wait_for_load_state("networkidle")
        screenshot(page, f"api-docs-{service}-{viewer.strip('/').replace('/', '-')}")
    finally:
        context.close()
    assert elsewhere == [], f"{viewer} on {service} asked other hosts: {elsewhere}"
    assert refused == [], f"{viewer} on {service}: the CSP refused: {refused}"
