"""``GET /embed/frontdesk.js``: size budget, caching, ETag, any origin."""

import gzip
from collections.abc import Iterator

import pytest
import redis
from litestar.testing import TestClient

from frontdesk.settings import Settings
from services.forms.app import create_app
from services.forms.embed import SCRIPT_PATH, EmbedScript


@pytest.fixture
def client(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_script_is_under_seven_kilobytes_gzipped() -> None:
    # 6 KiB until the script also carried the ALTCHA widget's loader, the source fields and the
    # typed fields' checks (about 1 KiB of exact-decimal, date and time rules).
    size = len(gzip.compress(SCRIPT_PATH.read_bytes(), 9))
    assert size < 7 * 1024, f"frontdesk.js is {size} bytes gzipped"


def test_script_is_served_gzipped_with_etag_and_short_cache(client: TestClient) -> None:
    version = EmbedScript.load().version
    response = client.get("/embed/frontdesk.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["content-location"] == f"/embed/frontdesk.js?v={version}"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.content == SCRIPT_PATH.read_bytes()  # httpx undoes the gzip
    assert response.headers["etag"] == f'"{version}-gz"'


def test_versioned_url_is_immutable_and_answers_304(client: TestClient) -> None:
    version = EmbedScript.load().version
    response = client.get(
        f"/embed/frontdesk.js?v={version}", headers={"Accept-Encoding": "identity"}
    )
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "content-location" not in response.headers
    etag = response.headers["etag"]
    assert etag == f'"{version}"'
    again = client.get(
        f"/embed/frontdesk.js?v={version}",
        headers={"Accept-Encoding": "identity", "If-None-Match": etag},
    )
    assert again.status_code == 304
    assert again.content == b""


def test_stale_version_gets_the_short_cache(client: TestClient) -> None:
    response = client.get("/embed/frontdesk.js?v=0000")
    assert response.headers["cache-control"] == "public, max-age=300"


def test_script_is_readable_from_another_origin(client: TestClient) -> None:
    response = client.get("/embed/frontdesk.js", headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
