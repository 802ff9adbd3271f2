"""Every endpoint of the Content API over a purpose-built site (ASGI test client, no Redis)."""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.content.conftest import ClientFactory

SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture
def client(make_client: ClientFactory):  # type: ignore[no-untyped-def]
    return make_client()


def problem(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["detail"]
    return body


def test_site_metadata_navigation_and_collections(client) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/v1/site").json()
    assert body["name"] == "Test Clinic"
    assert body["base_url"] == "https://clinic.example"
    assert body["default_region"] == "US"
    assert body["navigation"] == [{"label": "Home", "slug": "home"}]
    assert [(c["name"], c["kind"], c["count"]) for c in body["collections"]] == [
        ("faqs", "faq", 2),
        ("team", "person", 1),
        ("posts", "post", 0),
    ]


def test_pages_lists_published_pages_with_their_etags(client) -> None:  # type: ignore[no-untyped-def]
    items = client.get("/v1/pages").json()["items"]
    assert [p["slug"] for p in items] == ["home"]  # "about" is a draft
    page = client.get("/v1/pages/home", headers={"accept-encoding": "identity"})
    assert items[0]["etag"] == page.headers["etag"]
    assert items[0]["title"] == "Home"
    assert items[0]["updated_at"] == page.json()["updated_at"]


def test_page_resolves_sections(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/v1/pages/home").json()
    types = [s["type"] for s in page["sections"]]
    assert types == ["rich_text", "comparison", "collection", "collection", "form"]
    welcome, _, team, blog, form = page["sections"]
    assert welcome["id"] == "welcome"
    assert welcome["body"] == {
        "markdown": "Hello *there*.",
        "html": "<p>Hello <em>there</em>.</p>\n",
    }
    assert team["items"][0]["name"] == "Ana Example"
    assert team["items"][0]["photo"]["src"] == "/assets/ana.jpg"
    assert (team["state"], team["total"]) == ("items", 1)
    assert blog["items"] == []
    assert blog["state"] == "empty"
    assert blog["empty_state"] == {"message": "No posts published yet."}
    assert blog["hide_when_empty"] is False
    assert form["action"].endswith("/v1/forms/contact/submissions")


def test_redirected_slug_answers_308(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/v1/pages/old-home", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == "/v1/pages/home"
    # Not an empty body labelled JSON: a short HTML note linking to the target (RFC 9110 §15.4).
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<a href="/v1/pages/home">' in response.text


def test_draft_and_unknown_pages_are_404(client) -> None:  # type: ignore[no-untyped-def]
    problem(client.get("/v1/pages/about"), 404, "page_not_found")
    problem(client.get("/v1/pages/nope"), 404, "page_not_found")
    problem(client.get("/v1/nothing-here"), 404, "not_found")


def test_collections_list_counts_published_items(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/v1/collections").json() == {
        "items": [
            {"name": "faqs", "kind": "faq", "count": 2},
            {"name": "team", "kind": "person", "count": 1},
            {"name": "posts", "kind": "post", "count": 0},
        ]
    }


def test_items_page_through_with_opaque_cursor(client) -> None:  # type: ignore[no-untyped-def]
    first = client.get("/v1/collections/faqs/items", params={"limit": 1}).json()
    # Sorted by question: "What does it cost?" before "When are you open?".
    assert [i["slug"] for i in first["items"]] == ["cost"]
    assert first["total"] == 2
    assert first["state"] == "items"
    assert first["next_cursor"]
    second = client.get(
        "/v1/collections/faqs/items", params={"limit": 1, "cursor": first["next_cursor"]}
    ).json()
    assert [i["slug"] for i in second["items"]] == ["hours"]
    assert second["next_cursor"] is None
    assert first["items"][0]["kind"] == "faq"
    assert first["items"][0]["answer"]["html"] == "<p>It depends.</p>\n"


def test_items_default_limit_and_tag_filter(client) -> None:  # type: ignore[no-untyped-def]
    everything = client.get("/v1/collections/faqs/items").json()
    assert (everything["total"], everything["next_cursor"]) == (2, None)
    billing = client.get("/v1/collections/faqs/items", params={"tag": "billing"}).json()
    assert [i["slug"] for i in billing["items"]] == ["cost"]
    assert billing["total"] == 1
    none = client.get("/v1/collections/faqs/items", params={"tag": "nope"}).json()
    assert none == {
        "items": [],
        "total": 0,
        "next_cursor": None,
        "state": "empty",
        "empty_state": {"message": "No items found."},
    }


def test_empty_collection_carries_its_message(client) -> None:  # type: ignore[no-untyped-def]
    posts = client.get("/v1/collections/posts/items").json()
    assert posts["items"] == []
    assert posts["state"] == "empty"
    assert posts["empty_state"] == {"message": "No posts published yet."}


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "2.5"])
def test_bad_limit_is_400(client, limit: str) -> None:  # type: ignore[no-untyped-def]
    body = problem(
        client.get("/v1/collections/faqs/items", params={"limit": limit}), 400, "invalid_limit"
    )
    assert limit in body["detail"]


def test_bad_cursor_is_400(client) -> None:  # type: ignore[no-untyped-def]
    problem(
        client.get("/v1/collections/faqs/items", params={"cursor": "garbage!"}),
        400,
        "invalid_cursor",
    )
    cursor = client.get("/v1/collections/faqs/items", params={"limit": 1}).json()["next_cursor"]
    body = problem(
        client.get("/v1/collections/faqs/items", params={"cursor": cursor, "tag": "billing"}),
        400,
        "invalid_cursor",
    )
    assert "another tag" in body["detail"]


def test_unknown_collection_and_item_are_404(client) -> None:  # type: ignore[no-untyped-def]
    problem(client.get("/v1/collections/videos/items"), 404, "collection_not_found")
    problem(client.get("/v1/collections/videos/items/x"), 404, "collection_not_found")
    problem(client.get("/v1/collections/faqs/items/nope"), 404, "item_not_found")
    problem(client.get("/v1/collections/posts/items/draft-post"), 404, "item_not_found")


def test_item_by_slug(client) -> None:  # type: ignore[no-untyped-def]
    item = client.get("/v1/collections/team/items/ana").json()
    assert item["kind"] == "person"
    assert item["slug"] == "ana"
    assert item["photo"] == {
        "src": "/assets/ana.jpg",
        "alt": "Ana smiling",
        "width": 10,
        "height": 10,
    }


def test_sitemap_lists_published_pages_with_lastmod(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/v1/sitemap.xml")
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    urls = root.findall(f"{SITEMAP_NS}url")
    assert [u.findtext(f"{SITEMAP_NS}loc") for u in urls] == ["https://clinic.example/home"]
    lastmod = urls[0].findtext(f"{SITEMAP_NS}lastmod")
    assert lastmod is not None
    assert lastmod.endswith("Z")


def test_assets_are_served_with_etags(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/assets/ana.jpg", headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert response.content == b"\xff\xd8\xff\xe0fake-jpeg"
    assert response.headers["content-type"] == "image/jpeg"
    assert "content-encoding" not in response.headers  # JPEG is not gzipped again
    etag = response.headers["etag"]
    again = client.get("/assets/ana.jpg", headers={"if-none-match": etag})
    assert again.status_code == 304
    problem(client.get("/assets/nope.jpg"), 404, "asset_not_found")
    for traversal in ("/assets/../site.yaml", "/assets/%2e%2e/site.yaml", "/assets/..%2fsite.yaml"):
        response = client.get(traversal)
        assert response.status_code == 404, traversal
        assert response.headers["content-type"] == "application/problem+json"


def test_routes_list_every_published_route_with_its_etag(client) -> None:  # type: ignore[no-untyped-def]
    routes = client.get("/v1/routes").json()["items"]
    paths = {r["path"] for r in routes}
    assert {
        "/v1/site",
        "/v1/pages",
        "/v1/pages/home",
        "/v1/collections",
        "/v1/collections/faqs/items",
        "/v1/collections/faqs/items/cost",
        "/v1/collections/team/items/ana",
        "/v1/sitemap.xml",
        "/assets/ana.jpg",
    } <= paths
    assert "/v1/pages/about" not in paths
    assert "/v1/collections/posts/items/draft-post" not in paths
    for route in routes:
        response = client.get(route["path"], headers={"accept-encoding": "identity"})
        assert response.status_code == 200, route
        assert response.headers["etag"] == route["etag"], route


def test_conditional_requests_and_cache_headers(client) -> None:  # type: ignore[no-untyped-def]
    first = client.get("/v1/pages/home", headers={"accept-encoding": "identity"})
    headers = first.headers
    assert headers["cache-control"] == "public, max-age=60, stale-while-revalidate=600"
    assert headers["vary"] == "Accept-Encoding"
    assert headers["last-modified"].endswith(" GMT")
    by_date = client.get(
        "/v1/pages/home",
        headers={"if-modified-since": headers["last-modified"], "accept-encoding": "identity"},
    )
    assert by_date.status_code == 304
    assert by_date.headers["etag"] == headers["etag"]
    assert by_date.headers["cache-control"] == headers["cache-control"]
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3).
    stale = client.get(
        "/v1/pages/home",
        headers={"if-none-match": '"other"', "if-modified-since": headers["last-modified"]},
    )
    assert stale.status_code == 200
    older = client.get(
        "/v1/pages/home", headers={"if-modified-since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    )
    assert older.status_code == 200
    listing = client.get("/v1/collections/faqs/items", headers={"accept-encoding": "gzip"})
    assert listing.headers["content-encoding"] == "gzip"
    again = client.get(
        "/v1/collections/faqs/items",
        headers={"accept-encoding": "gzip", "if-none-match": listing.headers["etag"]},
    )
    assert again.status_code == 304


def test_gzip_body_is_the_same_json(client) -> None:  # type: ignore[no-untyped-def]
    raw = client.get("/v1/site", headers={"accept-encoding": "identity"})
    zipped = client.stream("GET", "/v1/site", headers={"accept-encoding": "gzip"})
    with zipped as response:
        data = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["etag"] != raw.headers["etag"]
    assert gzip.decompress(data) == raw.content


def test_cache_control_is_configurable(make_client: ClientFactory) -> None:
    client = make_client(content_cache_control="public, max-age=5")
    assert client.get("/v1/site").headers["cache-control"] == "public, max-age=5"


def test_cors_allows_any_origin_by_default(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/v1/site", headers={"origin": "https://anywhere.example"})
    assert response.headers["access-control-allow-origin"] == "*"


def test_cors_follows_configured_origins(make_client: ClientFactory) -> None:
    client = make_client(content_cors_origins=("https://clinic.example",))
    allowed = client.get("/v1/site", headers={"origin": "https://clinic.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://clinic.example"
    other = client.get("/v1/site", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.options(
        "/v1/pages/home",
        headers={
            "origin": "https://clinic.example",
            "access-control-request-method": "GET",
            "access-control-request-headers": "if-none-match",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://clinic.example"
    assert preflight.headers["access-control-allow-headers"] == (
        "Authorization, If-Modified-Since, If-None-Match, X-Request-ID"
    )
    assert preflight.headers["vary"] == "Origin"
    refused = client.options(
        "/v1/pages/home",
        headers={"origin": "https://evil.example", "access-control-request-method": "GET"},
    )
    assert refused.status_code == 204
    assert "access-control-allow-origin" not in refused.headers


def test_listed_origins_vary_by_origin_and_encoding_on_every_answer(
    make_client: ClientFactory,
) -> None:
    """A shared cache must key list-origin answers on Origin without losing Accept-Encoding
    (Litestar's CORS replaced ``Vary: Accept-Encoding`` with ``Vary: Origin``)."""
    client = make_client(content_cors_origins=("https://clinic.example",))
    for origin in ("https://clinic.example", "https://evil.example", None):
        headers = {"accept-encoding": "gzip"} | ({"origin": origin} if origin else {})
        page = client.get("/v1/pages/home", headers=headers)
        assert page.headers["vary"] == "Accept-Encoding, Origin"
        routed = client.get("/v1/collections/faqs/items?limit=1", headers=headers)
        assert routed.headers["vary"] == "Accept-Encoding, Origin"
        missing = client.get("/v1/pages/no-such-page", headers=headers)
        assert missing.status_code == 404
        assert missing.headers["vary"] == "Accept-Encoding, Origin"
        allowed = missing.headers.get("access-control-allow-origin")
        assert allowed == ("https://clinic.example" if origin == "https://clinic.example" else None)


def test_any_origin_answers_do_not_vary_by_origin(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/v1/pages/home", headers={"origin": "https://a.example"})
    assert page.headers["vary"] == "Accept-Encoding"
    assert page.headers["access-control-expose-headers"] == "ETag, Last-Modified, X-Request-ID"


def test_openapi_has_section_and_item_discriminators(client) -> None:  # type: ignore[no-untyped-def]
    schema = client.get("/schema/openapi.json").json()
    sections = schema["components"]["schemas"]["PageOut"]["properties"]["sections"]["items"]
    assert sections["discriminator"]["propertyName"] == "type"
    assert sections["discriminator"]["mapping"]["comparison"] == (
        "#/components/schemas/ComparisonOut"
    )
    assert len(sections["oneOf"]) == 6
    paths = schema["paths"]
    for path in (
        "/v1/site",
        "/v1/routes",
        "/v1/pages",
        "/v1/pages/{slug}",
        "/v1/collections",
        "/v1/collections/{name}/items",
        "/v1/collections/{name}/items/{slug}",
        "/v1/sitemap.xml",
    ):
        assert path in paths, path
    item = paths["/v1/collections/{name}/items/{slug}"]["get"]["responses"]["200"]
    item_schema = item["content"]["application/json"]["schema"]
    assert item_schema["discriminator"]["propertyName"] == "kind"


def test_head_sends_the_headers_without_the_body(client) -> None:  # type: ignore[no-untyped-def]
    get = client.get("/v1/pages/home", headers={"accept-encoding": "identity"})
    head = client.head("/v1/pages/home", headers={"accept-encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-length"] == str(len(get.content))
    assert client.head("/assets/ana.jpg").status_code == 200


def test_errors_and_redirects_vary_like_the_reads(make_client: ClientFactory) -> None:
    """A 404 of a draft becomes a 200 with a preview token; a shared cache must key on it."""
    client = make_client(content_cors_origins=("https://clinic.example",), preview_tokens=("tok1",))
    vary = "Accept-Encoding, Authorization, Origin"
    assert client.get("/v1/pages/about").headers["vary"] == vary  # a draft: 404
    assert client.get("/v1/pages/old-home", follow_redirects=False).headers["vary"] == vary
    wrong = client.get("/v1/pages/home", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["vary"] == vary


def test_a_long_unknown_slug_is_not_echoed_whole(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/v1/pages/" + "a" * 5000)
    assert response.status_code == 404
    assert len(response.content) < 600
    assert response.json()["detail"].startswith("No published page has the slug 'aaaa")


def test_asset_urls_are_percent_encoded(make_client: ClientFactory, site_dir: Path) -> None:
    """From a trial: ``my photo#1.png`` was listed unencoded, and a browser cut it at ``#``."""
    (site_dir / "assets" / "my photo#1.png").write_bytes(b"\x89PNG-fake")
    (site_dir / "assets" / "café.txt").write_text("menu")
    team = site_dir / "collections" / "team" / "ana.yaml"
    team.write_text(team.read_text().replace("src: ana.jpg", "src: 'my photo#1.png'"))
    client = make_client()
    paths = [r["path"] for r in client.get("/v1/routes").json()["items"]]
    assert "/assets/my%20photo%231.png" in paths
    assert "/assets/caf%C3%A9.txt" in paths
    for path in ("/assets/my%20photo%231.png", "/assets/caf%C3%A9.txt"):
        assert client.get(path).status_code == 200, path
    item = client.get("/v1/collections/team/items/ana").json()
    assert item["photo"]["src"] == "/assets/my%20photo%231.png"
