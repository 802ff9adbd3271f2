"""The Content API over the clinic site itself (examples/clinic-site)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import msgspec
import pytest
from litestar.testing import TestClient

from frontdesk.settings import Settings
from services.content.app import create_app

SLUG = "dry-needling-therapy-for-joint-pain"
NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    app = create_app(msgspec.structs.replace(settings, content_watch=False))
    with TestClient(app) as test_client:
        yield test_client


def test_clinic_collections_count_published_items_only(client: TestClient) -> None:  # type: ignore[type-arg]
    counts = {c["name"]: c["count"] for c in client.get("/v1/collections").json()["items"]}
    assert counts == {
        "faqs": 0,
        "therapies": 3,
        "symptoms": 0,
        "conditions": 0,
        "treatments": 0,
        "professionals": 0,
        "posts": 0,  # the after-care post is a draft
    }
    assert client.get("/v1/site").json()["name"] == "Clinic"


def test_clinic_therapies_in_title_order_with_tag_filter(client: TestClient) -> None:  # type: ignore[type-arg]
    therapies = client.get("/v1/collections/therapies/items").json()
    assert [i["title"] for i in therapies["items"]] == [
        "Instrument-Assisted Soft Tissue Mobilization",
        "Manual Therapy",
        "Therapeutic Exercise",
    ]
    assert therapies["state"] == "items"
    tagged = client.get("/v1/collections/therapies/items", params={"tag": "joint-pain"}).json()
    assert tagged["total"] == 3
    blog = client.get("/v1/collections/posts/items").json()
    assert (blog["items"], blog["state"]) == ([], "empty")
    assert blog["empty_state"] == {"message": "No posts published yet."}


def test_clinic_page_in_pages_routes_and_sitemap(client: TestClient) -> None:  # type: ignore[type-arg]
    pages = client.get("/v1/pages").json()["items"]
    assert [p["slug"] for p in pages] == [SLUG]
    routes = {r["path"]: r["etag"] for r in client.get("/v1/routes").json()["items"]}
    assert routes[f"/v1/pages/{SLUG}"] == pages[0]["etag"]
    root = ET.fromstring(client.get("/v1/sitemap.xml").content)
    assert [u.findtext(f"{NS}loc") for u in root.findall(f"{NS}url")] == [
        f"http://127.0.0.1:8000/{SLUG}"
    ]


def test_clinic_health_is_ok(client: TestClient) -> None:  # type: ignore[type-arg]
    assert client.get("/health/ready").json() == {"status": "ok"}
    assert client.get("/health/live").json() == {"status": "ok"}
