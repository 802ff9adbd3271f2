"""Reads a site directory into source types, collecting every problem with its file and path.

A problem reads ``pages/dry-needling.yaml: $.sections[3].rows[1]: expected 2 values, got 3``.

Over 400 lines on purpose: reading the files and the cross-file rules (:func:`check_site`) share
the loaded types and one problem list, and split in two each half would import the other.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import msgspec

from frontdesk.decoding import where_and_what
from frontdesk.site import form_ids
from services.content.model import (
    ITEM_TYPES,
    SLUG_RE,
    CollectionSection,
    ComparisonSection,
    FormSection,
    Image,
    Item,
    Page,
    SiteConfig,
)
from services.content.slugs import slugify


class SiteProblem(msgspec.Struct, frozen=True):
    """One problem of a site directory: ``file`` relative to it, JSON ``path`` inside it, ``message``."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


class SiteError(Exception):
    """The site directory has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[SiteProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class LoadedItem(msgspec.Struct, frozen=True):
    """A collection item with its resolved slug, file and modification time (UTC)."""

    slug: str
    item: Item
    file: str
    mtime: dt.datetime


class LoadedPage(msgspec.Struct, frozen=True):
    """A page with its file and modification time (UTC)."""

    page: Page
    file: str
    mtime: dt.datetime


class Site(msgspec.Struct, frozen=True):
    """A whole site directory, decoded and cross-checked.

    ``assets`` maps a path relative to ``assets/`` (``team/ana.jpg``) to the file; ``config_mtime``
    is ``site.yaml``'s modification time (UTC).
    """

    root: Path
    config: SiteConfig
    pages: dict[str, LoadedPage]
    collections: dict[str, dict[str, LoadedItem]]
    assets: dict[str, Path] = {}
    config_mtime: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    # Stems of files that did not decode, as "pages/<stem>" or "<collection>/<stem>": references
    # to them are not reported again (the file's own problem says what is wrong).
    broken: frozenset[str] = frozenset()


def _decode(root: Path, file: Path, type_: Any, problems: list[SiteProblem]) -> Any | None:
    rel = file.relative_to(root).as_posix()
    if not _inside(root, file):
        return None  # never read: :func:`site_links` reports the link
    try:
        # strict=False: a quoted "2026-01-01" is still a date and "800" a width, as editors expect;
        # numbers are never silently turned into text (a comparison value 12 must be "12").
        return msgspec.yaml.decode(file.read_bytes(), type=type_, strict=False)
    except msgspec.ValidationError as exc:
        path, message = where_and_what(exc)
        problems.append(SiteProblem(rel, path, message))
    except (msgspec.DecodeError, OSError, UnicodeDecodeError) as exc:
        problems.append(SiteProblem(rel, "$", f"not readable YAML: {_first_line(exc)}"))
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        # PyYAML and msgspec's conversion can raise these on odd documents (deep nesting,
        # out-of-range timestamps): still a problem of that file, never a crash of the loader.
        problems.append(SiteProblem(rel, "$", f"not readable YAML: {_first_line(exc)}"))
    return None


def _inside(root: Path, file: Path) -> bool:
    """Whether ``file`` (a path under ``root``) is itself, with every folder between, no link:
    its real path is the one its name says. ``root`` itself may be a link (a release folder).
    """
    relative = os.path.relpath(file, root)
    return not relative.startswith(os.pardir) and os.path.realpath(file) == os.path.join(
        os.path.realpath(root), relative
    )


def site_links(root: Path) -> list[SiteProblem]:
    """One problem per symbolic link below ``root`` (folders starting with ``.`` skipped; links to
    folders are not followed). The site directory is content: a link could make the services
    read and serve any file of their host (``/proc/self/environ`` holds every secret), so links
    are refused, whatever they point to.
    """
    problems = []
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted([*folders, *files]):
            path = Path(folder) / name
            if path.is_symlink():
                rel = path.relative_to(root).as_posix()
                problems.append(
                    SiteProblem(
                        rel,
                        "$",
                        "a symbolic link; the site directory takes no links: copy the file in",
                    )
                )
    return problems


def _assets(assets_dir: Path) -> dict[str, Path]:
    """Regular files under ``assets/`` by their path relative to it, links left out (and never
    followed into folders); files starting with ``.`` are not served.
    """
    assets = {}
    for folder, folders, files in os.walk(assets_dir):
        folders[:] = [f for f in folders if not (Path(folder) / f).is_symlink()]
        for name in files:
            file = Path(folder) / name
            if not name.startswith(".") and not file.is_symlink() and file.is_file():
                assets[file.relative_to(assets_dir).as_posix()] = file
    return dict(sorted(assets.items()))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _mtime(file: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(file.stat().st_mtime, tz=dt.UTC).replace(microsecond=0)


def load_site(root: Path) -> Site:
    """Decode ``root``'s ``site.yaml``, ``pages/*.yaml`` and ``collections/<name>/*.yaml``.

    Raises :class:`SiteError` listing every problem found (decoding and cross-file rules, see
    :func:`check_site`); never any other exception for bad content.
    """
    problems: list[SiteProblem] = []
    site_file = root / "site.yaml"
    if not site_file.is_file():
        raise SiteError([SiteProblem("site.yaml", "$", f"missing in {root}")])
    links = site_links(root)
    config = _decode(root, site_file, SiteConfig, problems)
    if config is None:
        raise SiteError(problems + links)

    collections: dict[str, dict[str, LoadedItem]] = {}
    broken: set[str] = set()
    for index, collection in enumerate(config.collections):
        if collection.name in collections:
            problems.append(
                SiteProblem(
                    "site.yaml",
                    f"$.collections[{index}].name",
                    f"duplicate collection {collection.name!r}",
                )
            )
            continue
        items: dict[str, LoadedItem] = {}
        folder = root / "collections" / collection.name
        for file in sorted(folder.glob("*.yaml")):
            item = _decode(root, file, ITEM_TYPES[collection.kind], problems)
            if item is None:
                broken.add(f"{collection.name}/{file.stem}")
                continue
            slug = item.slug or file.stem
            rel = file.relative_to(root).as_posix()
            if slug in items:
                problems.append(
                    SiteProblem(
                        rel, "$.slug", f"duplicate slug {slug!r} (also in {items[slug].file})"
                    )
                )
                continue
            if item.slug is None and SLUG_RE.fullmatch(slug) is None:
                problems.append(
                    SiteProblem(
                        rel, "$.slug", f"file name {file.name!r} is not a slug; set `slug:`"
                    )
                )
                continue
            items[slug] = LoadedItem(slug, item, rel, _mtime(file))
        collections[collection.name] = items
    configured = {c.name for c in config.collections}
    collections_dir = root / "collections"
    if collections_dir.is_dir():
        for folder in sorted(p for p in collections_dir.iterdir() if p.is_dir()):
            if folder.name not in configured and any(folder.glob("*.yaml")):
                problems.append(
                    SiteProblem(
                        "site.yaml",
                        "$.collections",
                        f"folder collections/{folder.name} is not a configured collection",
                    )
                )

    pages: dict[str, LoadedPage] = {}
    for file in sorted((root / "pages").glob("*.yaml")):
        page = _decode(root, file, Page, problems)
        if page is None:
            broken.add(f"pages/{file.stem}")
            continue
        rel = file.relative_to(root).as_posix()
        if page.slug in pages:
            problems.append(
                SiteProblem(
                    rel,
                    "$.slug",
                    f"duplicate slug {page.slug!r} (also in {pages[page.slug].file})",
                )
            )
            continue
        pages[page.slug] = LoadedPage(page, rel, _mtime(file))

    assets_dir = root / "assets"
    assets = _assets(assets_dir) if _inside(root, assets_dir) and assets_dir.is_dir() else {}
    problems.extend(links)
    forms = form_ids(root)
    site = Site(root, config, pages, collections, assets, _mtime(site_file), frozenset(broken))
    problems.extend(check_site(site, forms))
    if problems:
        raise SiteError(problems)
    return site


def check_site(site: Site, forms: frozenset[str] | None = None) -> list[SiteProblem]:
    """Cross-file rules, each problem with its file and path:

    - headings are not empty and section ids (anchors) are unique on a page;
    - comparison rows have one value per column;
    - collection sections name a configured collection, either ``pick`` or ``query`` (not both);
      picks resolve to existing items, and a published page never picks a draft;
      sort fields exist on the collection's kind;
    - form sections name a form of ``forms/`` (when that folder exists; the ids are the file
      names, :func:`frontdesk.site.form_ids`: the form files themselves are the forms service's);
    - images have alt text (WCAG 2.2 SC 1.1.1) and relative ``src`` exists under ``assets/``;
    - navigation links to existing pages; redirects lead to an existing page without a loop and
      never shadow an existing page.

    Symbolic links are refused by :func:`load_site` (:func:`site_links`).
    """
    problems: list[SiteProblem] = []
    kinds: dict[str, str] = {c.name: c.kind for c in site.config.collections}
    for index, collection in enumerate(site.config.collections):
        field = collection.sort.lstrip("-")
        if not _has_field(collection.kind, field):
            problems.append(
                SiteProblem(
                    "site.yaml",
                    f"$.collections[{index}].sort",
                    f"{collection.kind} items have no field {field!r}",
                )
            )
    for loaded in site.pages.values():
        problems.extend(_check_page(site, loaded, kinds, forms))
    for items in site.collections.values():
        for item in items.values():
            for field in ("photo", "image"):
                image = getattr(item.item, field, None)
                if image is not None:
                    problems.extend(_check_image(site, item.file, f"$.{field}", image))
    problems.extend(_check_navigation(site))
    problems.extend(_check_redirects(site))
    return problems


def _has_field(kind: str, field: str) -> bool:
    return field == "slug" or field in ITEM_TYPES[kind].__struct_fields__


def _check_image(site: Site, file: str, at: str, image: Image) -> list[SiteProblem]:
    problems = []
    if not image.alt.strip():
        problems.append(SiteProblem(file, f"{at}.alt", "image without alt text"))
    relative = "://" not in image.src and not image.src.startswith("/")
    if relative and image.src not in site.assets:
        problems.append(SiteProblem(file, f"{at}.src", f"no file assets/{image.src}"))
    return problems


def _check_page(
    site: Site, loaded: LoadedPage, kinds: dict[str, str], forms: frozenset[str] | None
) -> list[SiteProblem]:
    problems: list[SiteProblem] = []
    file = loaded.file
    anchors: dict[str, int] = {}
    for index, section in enumerate(loaded.page.sections):
        at = f"$.sections[{index}]"
        if not section.heading.strip():
            problems.append(SiteProblem(file, f"{at}.heading", "empty heading"))
        anchor = section.id or slugify(section.heading)
        if anchor and anchor in anchors:
            problems.append(
                SiteProblem(
                    file,
                    f"{at}.id",
                    f"duplicate section id {anchor!r} (also $.sections[{anchors[anchor]}])",
                )
            )
        anchors.setdefault(anchor, index)
        if isinstance(section, ComparisonSection):
            width = len(section.columns)
            for row_index, row in enumerate(section.rows):
                if len(row.values) != width:
                    problems.append(
                        SiteProblem(
                            file,
                            f"{at}.rows[{row_index}]",
                            f"expected {width} values, got {len(row.values)}",
                        )
                    )
        elif isinstance(section, FormSection):
            if forms is not None and section.form not in forms:
                problems.append(SiteProblem(file, f"{at}.form", f"unknown form {section.form!r}"))
        elif isinstance(section, CollectionSection):
            problems.extend(_check_collection_section(site, loaded, at, section, kinds))
    return problems


def _check_collection_section(
    site: Site,
    loaded: LoadedPage,
    at: str,
    section: CollectionSection,
    kinds: dict[str, str],
) -> list[SiteProblem]:
    file = loaded.file
    items = site.collections.get(section.collection)
    if items is None or section.collection not in kinds:
        return [SiteProblem(file, f"{at}.collection", f"unknown collection {section.collection!r}")]
    problems: list[SiteProblem] = []
    if section.pick is not None and section.query is not None:
        problems.append(SiteProblem(file, f"{at}.query", "use either pick or query, not both"))
    if section.query is not None and section.query.sort is not None:
        field = section.query.sort.lstrip("-")
        if not _has_field(kinds[section.collection], field):
            problems.append(
                SiteProblem(
                    file,
                    f"{at}.query.sort",
                    f"{kinds[section.collection]} items have no field {field!r}",
                )
            )
    seen: set[str] = set()
    for pick_index, slug in enumerate(section.pick or []):
        where = f"{at}.pick[{pick_index}]"
        picked = items.get(slug)
        if slug in seen:
            problems.append(SiteProblem(file, where, f"item {slug!r} is picked twice"))
        seen.add(slug)
        if picked is None and f"{section.collection}/{slug}" not in site.broken:
            problems.append(
                SiteProblem(
                    file, where, f"unknown item {slug!r} in collection {section.collection!r}"
                )
            )
        elif (
            picked is not None
            and picked.item.status != "published"
            and loaded.page.status == "published"
        ):
            problems.append(
                SiteProblem(
                    file, where, f"item {slug!r} is a draft; a published page may not show it"
                )
            )
    return problems


def _check_navigation(site: Site) -> list[SiteProblem]:
    return [
        SiteProblem("site.yaml", f"$.navigation[{index}].page", f"unknown page {link.page!r}")
        for index, link in enumerate(site.config.navigation)
        if link.page not in site.pages and f"pages/{link.page}" not in site.broken
    ]


def _check_redirects(site: Site) -> list[SiteProblem]:
    problems: list[SiteProblem] = []
    redirects = site.config.redirects
    for source, target in redirects.items():
        at = f"$.redirects.{source}"
        if source in site.pages:
            problems.append(
                SiteProblem(
                    "site.yaml",
                    at,
                    f"redirect from {source!r} shadows the page in {site.pages[source].file}",
                )
            )
            continue
        chain = [source]
        current = target
        while current in redirects and current not in chain:
            chain.append(current)
            current = redirects[current]
        if current in chain:
            loop = " -> ".join([*chain[chain.index(current) :], current])
            problems.append(SiteProblem("site.yaml", at, f"redirect loop: {loop}"))
        elif current not in site.pages and f"pages/{current}" not in site.broken:
            problems.append(SiteProblem("site.yaml", at, f"redirect to unknown page {current!r}"))
    return problems
