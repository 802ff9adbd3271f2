"""One build of a site: every response body encoded once, swapped whole on reload.

A :class:`Snapshot` is immutable once built (list pages are memoised, which cannot change their
bytes), so a request that read ``holder.snapshot`` once never sees two versions of the site.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
import stat
import threading
from urllib.parse import quote
from xml.sax.saxutils import escape

import msgspec

from frontdesk.bodies import EPOCH, Body
from frontdesk.cursors import encode_cursor
from frontdesk.settings import Settings
from services.content import public, reads
from services.content.build import DEFAULT_EMPTY_MESSAGE, Builder, next_publish_at
from services.content.loader import Site

# Formats that gzip does not shrink; sent in identity encoding only.
_COMPRESSED = ("image/", "video/", "audio/", "font/woff", "application/zip", "application/gzip")
# List pages are encoded on first request and kept for the build, up to this many bytes (identity
# and gzip): a crawler walking every limit/cursor/tag cannot grow the process without bound.
_MAX_MEMO_BYTES = 32 * 1024 * 1024


class ListEntry(msgspec.Struct, frozen=True):
    """An item of a collection list: its slug, tags, encoded JSON and change time."""

    slug: str
    tags: frozenset[str]
    raw: msgspec.Raw
    modified: dt.datetime


class CollectionList(msgspec.Struct, frozen=True):
    """A collection's visible items in default order, its empty-state message, the time of its
    latest change and every tag its items carry.
    """

    entries: list[ListEntry]
    empty_message: str
    modified: dt.datetime
    tags: frozenset[str] = frozenset()


def _latest(times: list[dt.datetime], default: dt.datetime) -> dt.datetime:
    return max(times, default=default)


class View:
    """Every body one audience sees (``preview=False``: the public; ``True``: preview tokens)."""

    def __init__(
        self,
        site: Site,
        settings: Settings,
        now: dt.datetime,
        preview: bool,
        assets: dict[str, Body],
    ) -> None:
        builder = Builder(site, settings.forms_public_url, now, preview=preview)
        config = site.config
        self.assets = assets
        self.pages: dict[str, Body] = {}
        summaries: list[public.PageSummaryOut] = []
        for slug in builder.live_pages():
            page = builder.page(slug)
            if page is None:  # pragma: no cover - live_pages only lists visible pages
                continue
            body = Body.of(page, page.updated_at)
            self.pages[slug] = body
            summaries.append(
                public.PageSummaryOut(
                    slug=slug, title=page.title, updated_at=page.updated_at, etag=body.etag
                )
            )
        self.redirects = {source: _final(source, config.redirects) for source in config.redirects}
        self.pages_list = Body.of(
            public.PagesOut(items=summaries),
            _latest([p.updated_at for p in summaries], site.config_mtime),
        )

        self.items: dict[str, dict[str, Body]] = {}
        self.lists: dict[str, CollectionList] = {}
        summaries_c: list[public.CollectionSummaryOut] = []
        for collection in config.collections:
            bodies: dict[str, Body] = {}
            entries: list[ListEntry] = []
            for loaded in builder.live_items(collection.name):
                modified = builder.item_modified(loaded)
                body = Body.of(builder.item(loaded), modified)
                bodies[loaded.slug] = body
                entries.append(
                    ListEntry(
                        loaded.slug,
                        frozenset(loaded.item.tags),
                        msgspec.Raw(body.identity),
                        modified,
                    )
                )
            self.items[collection.name] = bodies
            self.lists[collection.name] = CollectionList(
                entries,
                collection.empty_message or DEFAULT_EMPTY_MESSAGE,
                _latest([e.modified for e in entries], site.config_mtime),
                frozenset().union(*(e.tags for e in entries)),
            )
            summaries_c.append(
                public.CollectionSummaryOut(
                    name=collection.name, kind=collection.kind, count=len(entries)
                )
            )
        self.collections = Body.of(public.CollectionsOut(items=summaries_c), site.config_mtime)
        navigation = [
            public.NavLinkOut(label=link.label, slug=link.page)
            for link in config.navigation
            if link.page in self.pages
        ]
        self.site = Body.of(
            public.SiteOut(
                name=config.name,
                base_url=config.base_url,
                default_region=config.default_region,
                navigation=navigation,
                collections=summaries_c,
            ),
            site.config_mtime,
        )
        self.sitemap = Body.raw(
            _sitemap(config.base_url, summaries),
            "application/xml",
            _latest([p.updated_at for p in summaries], site.config_mtime),
        )
        self._memo: dict[tuple[str, str | None, int, int], Body] = {}
        self._memo_bytes = 0
        self._memo_lock = threading.Lock()
        routes = [
            public.RouteOut(path="/v1/site", type="site", etag=self.site.etag),
            public.RouteOut(path="/v1/pages", type="pages", etag=self.pages_list.etag),
            *(
                public.RouteOut(path=f"/v1/pages/{slug}", type="page", etag=body.etag)
                for slug, body in self.pages.items()
            ),
            public.RouteOut(path="/v1/collections", type="collections", etag=self.collections.etag),
        ]
        for name, bodies in self.items.items():
            first = reads.items(self, name)
            routes.append(
                public.RouteOut(path=f"/v1/collections/{name}/items", type="items", etag=first.etag)
            )
            routes.extend(
                public.RouteOut(
                    path=f"/v1/collections/{name}/items/{slug}", type="item", etag=body.etag
                )
                for slug, body in bodies.items()
            )
        routes.append(
            public.RouteOut(path="/v1/sitemap.xml", type="sitemap", etag=self.sitemap.etag)
        )
        routes.extend(
            public.RouteOut(path=f"/assets/{quote(path)}", type="asset", etag=body.etag)
            for path, body in assets.items()
        )
        self.routes = Body.of(public.RoutesOut(items=routes), site.config_mtime)
        self.paths = reads.fast_paths(self)
        """The body of every GET without a query string: request path → (body, the route template
        the request is counted under in the metrics); the fast path's table."""

    def items_page(self, name: str, tag: str | None, offset: int, limit: int) -> Body:
        """One page of collection ``name`` (which must exist), encoded at most once per build
        while the memo has room (a tag no item carries is never kept).

        Body: ``{items, total, next_cursor, state, empty_state}`` (see
        :class:`~services.content.public.ItemsPageOut`). Its ``Last-Modified`` is the
        collection's latest change: a page's items also move when an item elsewhere changes.
        """
        key = (name, tag, offset, limit)
        body = self._memo.get(key)
        if body is not None:
            return body
        listing = self.lists[name]
        matching = listing.entries if tag is None else [e for e in listing.entries if tag in e.tags]
        shown = matching[offset : offset + limit]
        end = offset + len(shown)
        body = Body.of(
            {
                "items": [e.raw for e in shown],
                "total": len(matching),
                "next_cursor": encode_cursor(end, tag) if end < len(matching) else None,
                "state": "items" if matching else "empty",
                "empty_state": {"message": listing.empty_message},
            },
            listing.modified,
        )
        if tag is None or tag in listing.tags:
            size = len(body.identity) + len(body.gzipped or b"")
            with self._memo_lock:
                if self._memo_bytes + size <= _MAX_MEMO_BYTES:
                    self._memo[key] = body
                    self._memo_bytes += size
        return body

    def advance(self, before: View, now: dt.datetime) -> None:
        """Keep ``Last-Modified`` truthful across builds: a body whose bytes changed since
        ``before`` (the previous build's view) but whose computed time is not later than the one
        sent then — an item deleted, a file restored with an old mtime — gets
        ``max(now, previous + 1 s)``, so ``If-Modified-Since`` never hides a change (RFC 9110
        §8.8.2). Unchanged bodies keep their time.
        """
        for name, listing in self.lists.items():
            old = before.lists.get(name)
            if old is None or listing.modified > old.modified:
                continue
            if [(e.slug, bytes(e.raw)) for e in listing.entries] != [
                (e.slug, bytes(e.raw)) for e in old.entries
            ]:
                self.lists[name] = msgspec.structs.replace(
                    listing, modified=_after(old.modified, now)
                )
        with self._memo_lock:
            self._memo.clear()  # list pages are built again from the advanced lists
            self._memo_bytes = 0
        replaced: dict[int, Body] = {}
        for path, (body, template) in self.paths.items():
            found = before.paths.get(path)
            if found is None or found[0].etag == body.etag or body.modified > found[0].modified:
                continue
            replaced[id(body)] = body.with_modified(_after(found[0].modified, now))
            self.paths[path] = (replaced[id(body)], template)
        if not replaced:
            return
        self.pages = {slug: replaced.get(id(b), b) for slug, b in self.pages.items()}
        self.items = {
            name: {slug: replaced.get(id(b), b) for slug, b in bodies.items()}
            for name, bodies in self.items.items()
        }
        self.site = replaced.get(id(self.site), self.site)
        self.routes = replaced.get(id(self.routes), self.routes)
        self.pages_list = replaced.get(id(self.pages_list), self.pages_list)
        self.collections = replaced.get(id(self.collections), self.collections)
        self.sitemap = replaced.get(id(self.sitemap), self.sitemap)
        self.assets = {path: replaced.get(id(b), b) for path, b in self.assets.items()}


def _after(previous: dt.datetime, now: dt.datetime) -> dt.datetime:
    """A time later than ``previous`` (HTTP-dates have whole seconds): ``now``, or one second on."""
    return max(now.replace(microsecond=0), previous + dt.timedelta(seconds=1))


def _final(source: str, redirects: dict[str, str]) -> str:
    """The page a redirect chain ends at (the loader has refused loops)."""
    seen = {source}
    target = redirects[source]
    while target in redirects and target not in seen:
        seen.add(target)
        target = redirects[target]
    return target


def _sitemap(base_url: str, pages: list[public.PageSummaryOut]) -> bytes:
    """sitemaps.org 0.9 XML: one ``<url>`` per published page at ``{base_url}/{slug}``."""
    base = base_url.rstrip("/")
    urls = "".join(
        f"<url><loc>{escape(f'{base}/{p.slug}')}</loc>"
        f"<lastmod>{p.updated_at.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}</lastmod></url>"
        for p in pages
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>\n'
    ).encode()


def _read_asset(site: Site, path: str) -> tuple[bytes, float]:
    """The bytes and modification time of ``assets/<path>``, read only when the file is a regular
    file inside ``assets/`` reached through no link (the check ran at load; the file may have been
    swapped since). Raises ``OSError`` naming the file otherwise, so the build fails and the last
    good one keeps being served.
    """
    assets = os.path.realpath(site.root / "assets")
    name = os.path.join(assets, path)
    if os.path.realpath(name) != name:
        raise OSError("not a file inside assets/ (a symbolic link?)")
    # O_NOFOLLOW: a link put in place between the check and the open fails with ELOOP.
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise OSError("not a regular file")
        return handle.read(), status.st_mtime


def _asset_bodies(site: Site) -> dict[str, Body]:
    bodies = {}
    for path in site.assets:
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        try:
            data, mtime = _read_asset(site, path)
        except OSError as exc:
            raise OSError(f"assets/{path}: {exc.strerror or exc}") from exc
        modified = dt.datetime.fromtimestamp(mtime, tz=dt.UTC)
        bodies[path] = Body.raw(
            data,
            media_type,
            modified,
            compress=not media_type.startswith(_COMPRESSED) or media_type == "image/svg+xml",
        )
    return bodies


class Snapshot:
    """One build of the site at instant ``now``: the public :class:`View`, the preview view (built
    on first use), asset bodies, and ``next_publish_at`` (when the next rebuild is due, or ``None``).
    ``previous`` is the build it replaces: changed bodies get a later ``Last-Modified`` than it
    sent (:meth:`View.advance`).

    Raises ``OSError`` when an asset cannot be read.
    """

    def __init__(
        self,
        site: Site,
        settings: Settings,
        now: dt.datetime,
        assets: dict[str, Body] | None = None,
        previous: Snapshot | None = None,
    ) -> None:
        self.site = site
        self.settings = settings
        self.built_at = now
        # A rebuild of the same site (publish_at) reuses the asset bodies: they do not depend on time.
        self.assets = _asset_bodies(site) if assets is None else assets
        self.public = View(site, settings, now, False, self.assets)
        if previous is not None:
            self.public.advance(previous.public, now)
        self.next_publish_at = next_publish_at(site, now)
        self._preview: View | None = None
        self._preview_lock = threading.Lock()

    @property
    def pages(self) -> dict[str, Body]:
        """The public page bodies by slug."""
        return self.public.pages

    @property
    def has_preview(self) -> bool:
        """Whether the preview view is built already (else :meth:`view` builds it: slow)."""
        return self._preview is not None

    def view(self, preview: bool) -> View:
        """The public view, or the preview view (drafts and scheduled content shown)."""
        if not preview:
            return self.public
        with self._preview_lock:
            if self._preview is None:
                self._preview = View(self.site, self.settings, self.built_at, True, self.assets)
            return self._preview


__all__ = ["EPOCH", "Body", "Snapshot", "View"]
