"""Drafts, scheduling, preview tokens, reloads and readiness of the content service."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import msgspec

from frontdesk.bodies import not_modified_since
from frontdesk.settings import Settings
from services.content.holder import SiteHolder
from services.content.loader import load_site
from services.content.snapshot import Snapshot, View
from tests.content.conftest import ClientFactory, eventually, internal_of

# A day ahead of the files' mtimes, so publish_at is the latest change.
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)


def scheduled_post(when: dt.datetime) -> str:
    return f"title: Soon\ndate: 2026-05-01\npublish_at: {when.isoformat()}\n"


def test_preview_token_shows_drafts_privately(make_client: ClientFactory) -> None:
    client = make_client(preview_tokens=("editor-token", "second"))
    auth = {"authorization": "Bearer second"}
    draft = client.get("/v1/pages/about", headers=auth)
    assert draft.status_code == 200
    assert draft.json()["title"] == "About"
    assert draft.headers["cache-control"] == "private, no-store"
    assert draft.headers["vary"] == "Accept-Encoding, Authorization"
    posts = client.get("/v1/collections/posts/items", headers=auth).json()
    assert [i["slug"] for i in posts["items"]] == ["draft-post"]
    pages = client.get("/v1/pages", headers=auth).json()["items"]
    assert [p["slug"] for p in pages] == ["about", "home"]
    public = client.get("/v1/pages/about")
    assert public.status_code == 404
    assert client.get("/v1/pages/home").headers["cache-control"].startswith("public")


def test_wrong_preview_token_is_401(make_client: ClientFactory) -> None:
    client = make_client(preview_tokens=("editor-token",))
    for header in ("Bearer nope", "Basic ZWRpdG9yLXRva2Vu", "editor-token"):
        response = client.get("/v1/pages/home", headers={"authorization": header})
        assert response.status_code == 401, header
        assert response.json()["code"] == "invalid_token"
        assert response.headers["www-authenticate"].startswith("Bearer ")


def test_authorization_is_ignored_when_preview_is_off(make_client: ClientFactory) -> None:
    client = make_client()
    response = client.get("/v1/pages/about", headers={"authorization": "Bearer x"})
    assert response.status_code == 404


def test_scheduled_content_is_invisible_until_publish_at(
    settings: Settings, site_dir: Path
) -> None:
    later = NOW + dt.timedelta(hours=1)
    (site_dir / "collections/posts/soon.yaml").write_text(scheduled_post(later))
    (site_dir / "pages/launch.yaml").write_text(
        f"slug: launch\ntitle: Launch\npublish_at: {later.isoformat()}\n"
    )
    site = load_site(site_dir)
    config = msgspec.structs.replace(settings, site_dir=site_dir)
    before = Snapshot(site, config, NOW)
    assert before.next_publish_at == later
    assert "launch" not in before.public.pages
    assert before.public.items["posts"] == {}
    after = Snapshot(site, config, later)
    assert after.next_publish_at is None
    assert "launch" in after.public.pages
    assert list(after.public.items["posts"]) == ["soon"]
    # The item became visible at publish_at, later than its file's mtime: Last-Modified says so.
    assert after.public.items["posts"]["soon"].modified == later


def test_publish_at_passing_rebuilds_without_restart(
    make_client: ClientFactory, site_dir: Path
) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    (site_dir / "collections/posts/soon.yaml").write_text(scheduled_post(soon))
    client = make_client()
    first = client.get("/v1/collections/posts/items").json()
    assert first["total"] == 0
    eventually(lambda: client.get("/v1/collections/posts/items").json()["total"] == 1)
    home = client.get("/v1/pages/home").json()
    blog = next(s for s in home["sections"] if s["heading"] == "Blog")
    assert [i["slug"] for i in blog["items"]] == ["soon"]


def test_file_change_reloads_the_site(make_client: ClientFactory, site_dir: Path) -> None:
    client = make_client(content_watch=True, content_reload_debounce=0.05)
    (site_dir / "pages/home.yaml").write_text("slug: home\ntitle: New Home\n")
    eventually(lambda: client.get("/v1/pages/home").json()["title"] == "New Home")
    assert client.get("/health/ready").json() == {"status": "ok"}


def test_failed_reload_keeps_the_last_good_site(make_client: ClientFactory, site_dir: Path) -> None:
    client = make_client(content_watch=True, content_reload_debounce=0.05)
    internal = internal_of(client)
    etag = client.get("/v1/pages/home").headers["etag"]
    (site_dir / "pages/home.yaml").write_text("slug: home\ntitle: Home\nsubtitle: nope\n")

    def degraded() -> bool:
        return bool(internal.get("/health/ready").json()["status"] == "degraded")

    eventually(degraded)
    # Publicly the site is served, and that is all a visitor learns.
    assert client.get("/health/ready").json() == {"status": "ok"}
    ready = internal.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["errors"] == [
        {
            "file": "pages/home.yaml",
            "path": "$",
            "message": "Object contains unknown field `subtitle`",
        }
    ]
    page = client.get("/v1/pages/home")
    assert page.status_code == 200
    assert page.headers["etag"] == etag
    (site_dir / "pages/home.yaml").write_text("slug: home\ntitle: Fixed\n")
    eventually(lambda: internal.get("/health/ready").json() == {"status": "ok"})
    assert client.get("/v1/pages/home").json()["title"] == "Fixed"


def test_no_site_ever_loaded_is_503_until_fixed(make_client: ClientFactory, site_dir: Path) -> None:
    good = (site_dir / "site.yaml").read_text()
    (site_dir / "site.yaml").write_text("name: Broken\n")
    client = make_client(content_watch=True, content_reload_debounce=0.05)
    public = client.get("/health/ready")
    assert public.status_code == 503
    assert public.json() == {"status": "unavailable"}
    ready = internal_of(client).get("/health/ready")
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.json()["errors"] == [
        {"file": "site.yaml", "path": "$", "message": "Object missing required field `base_url`"}
    ]
    page = client.get("/v1/pages/home")
    assert page.status_code == 503
    assert page.json()["code"] == "site_unavailable"
    assert client.get("/health/live").json() == {"status": "ok"}
    (site_dir / "site.yaml").write_text(good)
    eventually(lambda: client.get("/health/ready").status_code == 200)
    assert client.get("/v1/pages/home").status_code == 200


def test_reload_swaps_one_snapshot(settings: Settings, site_dir: Path) -> None:
    holder = SiteHolder(msgspec.structs.replace(settings, site_dir=site_dir))
    assert holder.load()
    before = holder.snapshot
    (site_dir / "pages/home.yaml").write_text("slug: home\ntitle: Next\n")
    assert holder.load()
    after = holder.snapshot
    assert before is not None
    assert after is not None
    assert after is not before
    # The old snapshot is untouched: a request that read it keeps answering from one version.
    assert b'"Home"' in before.pages["home"].identity
    assert b'"Next"' in after.pages["home"].identity
    (site_dir / "pages/home.yaml").write_text("slug: home\n")
    assert not holder.load()
    assert holder.snapshot is after
    assert [str(p) for p in holder.errors] == [
        "pages/home.yaml: $: Object missing required field `title`"
    ]


def _holder(settings: Settings, site_dir: Path) -> SiteHolder:
    holder = SiteHolder(msgspec.structs.replace(settings, site_dir=site_dir))
    assert holder.load()
    return holder


def _public(holder: SiteHolder) -> View:
    assert holder.snapshot is not None
    return holder.snapshot.public


def test_deleting_an_item_advances_last_modified(settings: Settings, site_dir: Path) -> None:
    """The trial's report: after a deletion, If-Modified-Since with the old date answered 304
    although the list, the page showing it and /v1/collections had changed."""
    holder = _holder(settings, site_dir)
    before = {path: body for path, (body, _) in _public(holder).paths.items()}
    (site_dir / "collections" / "faqs" / "hours.yaml").unlink()
    assert holder.load()
    after = _public(holder)
    for path in ("/v1/collections/faqs/items", "/v1/collections", "/v1/site", "/v1/routes"):
        body, _ = after.paths[path]
        assert body.etag != before[path].etag, path
        assert body.modified > before[path].modified, path
        assert not_modified_since(before[path].last_modified, body.modified) is False, path
    # What did not change keeps its date.
    assert after.paths["/v1/pages/home"][0].modified == before["/v1/pages/home"].modified
    assert (
        after.paths["/v1/collections/faqs/items/cost"][0]
        == before["/v1/collections/faqs/items/cost"]
    )
    # Every page of the list, also those built on request, carries the advanced date.
    assert after.items_page("faqs", None, 0, 1).modified == after.lists["faqs"].modified
    assert after.lists["faqs"].modified == after.paths["/v1/collections/faqs/items"][0].modified


def test_a_file_restored_with_an_old_mtime_advances_the_list(
    settings: Settings, site_dir: Path
) -> None:
    item = site_dir / "collections" / "faqs" / "hours.yaml"
    text, stat = item.read_text(), item.stat()
    holder = _holder(settings, site_dir)
    item.unlink()
    assert holder.load()
    without = _public(holder).paths["/v1/collections/faqs/items"][0]
    item.write_text(text)
    os.utime(item, (stat.st_atime, stat.st_mtime))  # as git checkout or cp -p leave it
    assert holder.load()
    restored = _public(holder).paths["/v1/collections/faqs/items"][0]
    assert restored.etag != without.etag
    assert restored.modified > without.modified


def test_unknown_tags_are_not_kept(settings: Settings, site_dir: Path) -> None:
    """The trial's report: 4,200 distinct long tags grew the process by 260 MB."""
    view = _public(_holder(settings, site_dir))
    kept = dict(view._memo)
    for i in range(200):
        page = view.items_page("faqs", f"{i:06d}" + "a" * 1000, 0, 20)
        assert page.identity.startswith(b'{"items":[],"total":0')
    assert view._memo == kept
    assert view.items_page("faqs", "billing", 0, 20) is view.items_page("faqs", "billing", 0, 20)
