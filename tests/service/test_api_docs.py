"""The OpenAPI viewers under /schema of the content, forms and internal apps load only their own origin.

Every viewer page names only same-origin scripts and styles; those are the vendored files, byte for
byte, with long-lived caching; the pages carry a Content-Security-Policy of this origin only; the
viewers that are not vendored are gone; /schema/openapi.json stays. (tests/browser/test_api_docs.py
renders them in Chromium with every other host blocked.)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from frontdesk.apidocs import CONTENT_SECURITY_POLICY, VENDOR
from frontdesk.settings import Settings
from services.content.app import create_app as create_content_app
from services.forms.app import create_app as create_forms_app
from services.forms.internal import create_internal_app

VIEWERS = ["/schema", "/schema/redoc", "/schema/swagger"]
APPS: dict[str, Callable[[Settings], Any]] = {
    "content": create_content_app,
    "forms": create_forms_app,
    "internal": create_internal_app,
}
ADDRESS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)


@pytest.fixture(params=sorted(APPS))
def client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TestClient[Any]]:
    with TestClient(APPS[request.param](settings)) as test_client:
        yield test_client


def referenced(html: str) -> list[str]:
    """Every src and href address in a page."""
    return ADDRESS.findall(html)


def test_viewers_reference_only_their_own_origin(client: TestClient[Any]) -> None:
    for path in VIEWERS:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        addresses = referenced(response.text)
        assert addresses, path
        for address in addresses:
            assert address == "data:," or address.startswith("/schema/assets/"), (path, address)
        assert "fonts.googleapis" not in response.text
        assert "cdn." not in response.text


def test_assets_are_the_vendored_files_with_long_caching(client: TestClient[Any]) -> None:
    internal = "internal" in client.get("/schema/openapi.json").json()["info"]["title"]
    sums = {
        (folder.name, name): digest
        for folder in VENDOR.iterdir()
        for digest, name in (
            line.split(maxsplit=1) for line in (folder / "SHA256SUMS").read_text().splitlines()
        )
    }
    seen = set()
    for path in VIEWERS:
        for address in referenced(client.get(path).text):
            if address == "data:,":
                continue
            response = client.get(address)
            assert response.status_code == 200, address
            # The internal port answers everything no-store (frontdesk.internal.NoStore).
            assert response.headers["cache-control"] == (
                "no-store" if internal else "public, max-age=31536000, immutable"
            )
            assert response.headers["x-content-type-options"] == "nosniff"
            suffix = address.rsplit(".", 1)[1]
            assert response.headers["content-type"].startswith(
                {"js": "text/javascript", "css": "text/css"}[suffix]
            )
            package = address.split("/")[3].rsplit("-", 1)[0]
            name = address.rsplit("/", 1)[1]
            assert hashlib.sha256(response.content).hexdigest() == sums[(package, name)]
            seen.add(address)
    assert len(seen) == 4  # Redoc's bundle; Swagger UI's bundle, preset and stylesheet


@pytest.mark.parametrize(
    "path",
    [
        "/schema/elements",
        "/schema/rapidoc",
        "/schema/scalar",
        "/schema/assets/redoc-2.5.4/LICENSE",
        "/schema/assets/redoc-2.5.4/package.json",
        "/schema/assets/redoc-0.0.1/redoc.standalone.js",
        "/schema/assets/nothing-1.0.0/redoc.standalone.js",
        "/schema/assets/redoc-2.5.4/..%2F..%2F__init__.py",
    ],
)
def test_other_viewers_and_files_are_not_found(client: TestClient[Any], path: str) -> None:
    assert client.get(path).status_code == 404


def test_the_document_stays(client: TestClient[Any]) -> None:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["paths"]
    assert not any(path.startswith("/schema") for path in document["paths"])
