"""Reads a site directory into source types, collecting every problem with its file and path.

A problem reads ``pages/dry-needling.yaml: $.sections[3].rows[1]: expected 2 values, got 3``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec

from services.content.model import (
    ITEM_TYPES,
    CollectionSection,
    ComparisonSection,
    Item,
    Page,
    SiteConfig,
)


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
    """A whole site directory, decoded and cross-checked."""

    root: Path
    config: SiteConfig
    pages: dict[str, LoadedPage]
    collections: dict[str, dict[str, LoadedItem]]


def _decode(root: Path, file: Path, type_: Any, problems: list[SiteProblem]) -> Any | None:
    rel = file.relative_to(root).as_posix()
    try:
        return msgspec.yaml.decode(file.read_bytes(), type=type_)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).rpartition(" - at ")
        if not message:
            message, path = path, "`$`"
        problems.append(SiteProblem(rel, path.strip("`"), message))
    except (msgspec.DecodeError, OSError, UnicodeDecodeError) as exc:
        problems.append(SiteProblem(rel, "$", f"not readable YAML: {exc}"))
    return None


def _mtime(file: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(file.stat().st_mtime, tz=dt.UTC).replace(microsecond=0)


def load_site(root: Path) -> Site:
    """Decode ``root``'s ``site.yaml``, ``pages/*.yaml`` and ``collections/<name>/*.yaml``.

    Raises :class:`SiteError` listing every problem found (decoding and cross-file rules).
    """
    problems: list[SiteProblem] = []
    site_file = root / "site.yaml"
    if not site_file.is_file():
        raise SiteError([SiteProblem("site.yaml", "$", f"missing in {root}")])
    config = _decode(root, site_file, SiteConfig, problems)
    if config is None:
        raise SiteError(problems)

    collections: dict[str, dict[str, LoadedItem]] = {}
    for collection in config.collections:
        items: dict[str, LoadedItem] = {}
        folder = root / "collections" / collection.name
        for file in sorted(folder.glob("*.yaml")):
            item = _decode(root, file, ITEM_TYPES[collection.kind], problems)
            if item is None:
                continue
            slug = item.slug or file.stem
            rel = file.relative_to(root).as_posix()
            if slug in items:
                problems.append(SiteProblem(rel, "$.slug", f"duplicate slug {slug!r}"))
                continue
            items[slug] = LoadedItem(slug, item, rel, _mtime(file))
        collections[collection.name] = items

    pages: dict[str, LoadedPage] = {}
    for file in sorted((root / "pages").glob("*.yaml")):
        page = _decode(root, file, Page, problems)
        if page is None:
            continue
        rel = file.relative_to(root).as_posix()
        if page.slug in pages:
            problems.append(SiteProblem(rel, "$.slug", f"duplicate slug {page.slug!r}"))
            continue
        pages[page.slug] = LoadedPage(page, rel, _mtime(file))

    site = Site(root, config, pages, collections)
    problems.extend(check_site(site))
    if problems:
        raise SiteError(problems)
    return site


def check_site(site: Site) -> list[SiteProblem]:
    """Cross-file rules: sections name known collections, picks resolve, rows match the columns."""
    problems: list[SiteProblem] = []
    for loaded in site.pages.values():
        for index, section in enumerate(loaded.page.sections):
            at = f"$.sections[{index}]"
            if not section.heading.strip():
                problems.append(SiteProblem(loaded.file, f"{at}.heading", "empty heading"))
            if isinstance(section, ComparisonSection):
                width = len(section.columns)
                for row_index, row in enumerate(section.rows):
                    if len(row.values) != width:
                        problems.append(
                            SiteProblem(
                                loaded.file,
                                f"{at}.rows[{row_index}]",
                                f"expected {width} values, got {len(row.values)}",
                            )
                        )
            if isinstance(section, CollectionSection):
                items = site.collections.get(section.collection)
                if items is None:
                    problems.append(
                        SiteProblem(
                            loaded.file,
                            f"{at}.collection",
                            f"unknown collection {section.collection!r}",
                        )
                    )
                    continue
                for pick_index, slug in enumerate(section.pick or []):
                    picked = items.get(slug)
                    if picked is None:
                        problems.append(
                            SiteProblem(
                                loaded.file, f"{at}.pick[{pick_index}]", f"unknown item {slug!r}"
                            )
                        )
                    elif picked.item.status != "published" and loaded.page.status == "published":
                        problems.append(
                            SiteProblem(
                                loaded.file,
                                f"{at}.pick[{pick_index}]",
                                f"item {slug!r} is a draft; a published page may not show it",
                            )
                        )
    return problems
