"""Resolves a loaded :class:`~services.content.loader.Site` into public JSON types.

Drafts and items whose ``publish_at`` lies after ``now`` are never shown or counted, except in a
preview build (``preview=True``), which shows everything.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from services.content import model, public, structured
from services.content.loader import LoadedItem, Site
from services.content.markdown import MarkdownRenderer
from services.content.slugs import slugify

DEFAULT_EMPTY_MESSAGE = "No items found."


def is_live(status: str, publish_at: dt.datetime | None, now: dt.datetime) -> bool:
    """True when a page or item is published and its ``publish_at`` (if any) is not after ``now``."""
    if status != "published":
        return False
    if publish_at is None:
        return True
    when = publish_at if publish_at.tzinfo else publish_at.replace(tzinfo=dt.UTC)
    return when <= now


def _aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def modified_at(
    mtime: dt.datetime, publish_at: dt.datetime | None, now: dt.datetime
) -> dt.datetime:
    """When a page or item last changed for readers: its file's mtime, or the ``publish_at`` that
    made it visible when that is later (so ``If-Modified-Since`` never hides a newly public item).
    """
    if publish_at is not None and mtime < _aware(publish_at) <= now:
        return _aware(publish_at).replace(microsecond=0)
    return mtime


def next_publish_at(site: Site, now: dt.datetime) -> dt.datetime | None:
    """The earliest ``publish_at`` after ``now`` of a published page or item (``None``: none)."""
    times = [
        _aware(p.page.publish_at)
        for p in site.pages.values()
        if p.page.status == "published" and p.page.publish_at is not None
    ]
    times += [
        _aware(i.item.publish_at)
        for items in site.collections.values()
        for i in items.values()
        if i.item.status == "published" and i.item.publish_at is not None
    ]
    future = [t for t in times if t > now]
    return min(future) if future else None


class Builder:
    """Builds public pages and items of one site at one instant ``now`` (UTC).

    ``forms_public_url`` is the base of form sections' ``action`` and ``definition`` URLs;
    ``preview=True`` shows drafts and scheduled pages and items as if they were live.
    """

    def __init__(
        self, site: Site, forms_public_url: str, now: dt.datetime, preview: bool = False
    ) -> None:
        self.site = site
        self.forms_url = forms_public_url.rstrip("/")
        self.now = now
        self.preview = preview
        self.md = MarkdownRenderer()
        self._kinds = {c.name: c for c in site.config.collections}
        self._touched: list[dt.datetime] = []
        # Memos: a build resolves each collection and item once, however many pages show them.
        self._live: dict[str, list[LoadedItem]] = {}
        self._items: dict[tuple[str, str], public.ItemOut] = {}

    def visible(self, status: str, publish_at: dt.datetime | None) -> bool:
        """Whether a page or item shows in this build (always in preview)."""
        return self.preview or is_live(status, publish_at, self.now)

    def live_items(self, collection: str) -> list[LoadedItem]:
        """The visible items of ``collection`` in its default sort order (a fresh list)."""
        cached = self._live.get(collection)
        if cached is None:
            config = self._kinds[collection]
            items = [
                loaded
                for loaded in self.site.collections.get(collection, {}).values()
                if self.visible(loaded.item.status, loaded.item.publish_at)
            ]
            cached = self._live[collection] = sort_items(items, config.sort)
        return list(cached)

    def item_modified(self, loaded: LoadedItem) -> dt.datetime:
        """See :func:`modified_at`."""
        return modified_at(loaded.mtime, loaded.item.publish_at, self.now)

    def live_pages(self) -> list[str]:
        """Slugs of the visible pages, in slug order."""
        return sorted(
            slug
            for slug, loaded in self.site.pages.items()
            if self.visible(loaded.page.status, loaded.page.publish_at)
        )

    def page(self, slug: str) -> public.PageOut | None:
        """The public page ``slug``, or ``None`` when it is unknown or not visible.

        ``updated_at`` is the latest change of the page file and of the items it shows.
        """
        loaded = self.site.pages.get(slug)
        if loaded is None or not self.visible(loaded.page.status, loaded.page.publish_at):
            return None
        page = loaded.page
        self._touched = [modified_at(loaded.mtime, page.publish_at, self.now)]
        sections = [self.section(s) for s in page.sections]
        data = self.structured_data(page.slug, sections)
        if self.site.config.practice is not None:
            # The practice's facts are site.yaml's: the page changes when they do.
            self._touched.append(self.site.config_mtime)
        return public.PageOut(
            slug=page.slug,
            title=page.title,
            seo=public.SeoOut(title=page.seo.title or page.title, description=page.seo.description),
            updated_at=max(self._touched),
            sections=sections,
            structured_data=data,
            structured_data_json=structured.script_json(data),
        )

    def structured_data(
        self, slug: str, sections: list[public.SectionOutT]
    ) -> list[dict[str, Any]]:
        """The page's schema.org JSON-LD (see :mod:`services.content.structured`): the practice,
        an ``FAQPage`` of the FAQ items its sections show, a ``Person`` per person shown (each
        item once, in page order).
        """
        config = self.site.config
        shown: dict[tuple[str, str], public.ItemOut] = {}
        for section in sections:
            if isinstance(section, public.CollectionOut):
                for item in section.items:
                    shown.setdefault((section.collection, item.slug), item)
        data: list[dict[str, Any]] = []
        business = structured.practice(config)
        if business is not None:
            data.append(business)
        page_url = f"{config.base_url.rstrip('/')}/{slug}"
        faqs = structured.faq_page(
            page_url, (i for i in shown.values() if isinstance(i, public.FaqOut))
        )
        if faqs is not None:
            data.append(faqs)
        data.extend(
            structured.person(item, collection, config.base_url, works_for=business is not None)
            for (collection, _), item in shown.items()
            if isinstance(item, public.PersonOut)
        )
        return data

    def section(self, section: model.Section) -> public.SectionOutT:
        """One resolved section."""
        common = {"id": section.id or slugify(section.heading), "heading": section.heading}
        md = self.md
        match section:
            case model.RichTextSection():
                return public.RichTextOut(**common, body=md.render(section.body))
            case model.ListSection():
                return public.ListOut(
                    **common,
                    intro=md.optional(section.intro),
                    style=section.style,
                    items=[
                        public.ListItemOut(title=i.title, body=md.render(i.body))
                        for i in section.items
                    ],
                    outro=md.optional(section.outro),
                )
            case model.ComparisonSection():
                return public.ComparisonOut(
                    **common,
                    intro=md.optional(section.intro),
                    columns=list(section.columns),
                    rows=[
                        public.RowOut(label=r.label, values=list(r.values)) for r in section.rows
                    ],
                    outro=md.optional(section.outro),
                )
            case model.StepsSection():
                return public.StepsOut(
                    **common,
                    intro=md.optional(section.intro),
                    steps=[
                        public.StepOut(title=s.title, body=md.render(s.body)) for s in section.steps
                    ],
                    outro=md.optional(section.outro),
                )
            case model.CollectionSection():
                return self.collection_section(section, common)
            case model.FormSection():
                base = f"{self.forms_url}/v1/forms/{section.form}"
                return public.FormOut(
                    **common, form=section.form, action=f"{base}/submissions", definition=base
                )
        raise AssertionError(f"unhandled section type {type(section).__name__}")

    def collection_section(
        self, section: model.CollectionSection, common: dict[str, str]
    ) -> public.CollectionOut:
        """A collection section: picked or queried items, never ``null``, with its empty state."""
        config = self._kinds[section.collection]
        message = (
            section.empty_state.message
            if section.empty_state is not None
            else config.empty_message or DEFAULT_EMPTY_MESSAGE
        )
        if section.pick is not None:
            live = {i.slug: i for i in self.live_items(section.collection)}
            matching = [live[slug] for slug in section.pick if slug in live]
            limit = None
        else:
            query = section.query or model.CollectionQuery()
            matching = self.live_items(section.collection)
            if query.tag is not None:
                matching = [i for i in matching if query.tag in i.item.tags]
            if query.sort is not None:
                matching = sort_items(matching, query.sort)
            limit = query.limit
        shown = matching[:limit] if limit is not None else matching
        self._touched.extend(self.item_modified(i) for i in shown)
        return public.CollectionOut(
            **common,
            collection=section.collection,
            items=[self.item(i) for i in shown],
            total=len(matching),
            state="items" if matching else "empty",
            empty_state=public.EmptyStateOut(message=message),
            hide_when_empty=section.hide_when_empty,
        )

    def image(self, image: model.Image | None) -> public.ImageOut | None:
        """An image with ``src`` made absolute under ``/assets/`` unless it already is a URL; the
        file name percent-encoded (RFC 3986), so ``my photo#1.png`` stays one path.
        """
        if image is None:
            return None
        src = (
            image.src
            if "://" in image.src or image.src.startswith("/")
            else f"/assets/{quote(image.src)}"
        )
        return public.ImageOut(src=src, alt=image.alt, width=image.width, height=image.height)

    def item(self, loaded: LoadedItem) -> public.ItemOut:
        """One public item of any kind (built once per build; public types are not mutated)."""
        key = (loaded.file, loaded.slug)
        cached = self._items.get(key)
        if cached is None:
            cached = self._items[key] = self._item(loaded)
        return cached

    def _item(self, loaded: LoadedItem) -> public.ItemOut:
        item, md = loaded.item, self.md
        tags = list(item.tags)
        match item:
            case model.FaqItem():
                return public.FaqOut(
                    slug=loaded.slug,
                    tags=tags,
                    question=item.question,
                    answer=md.render(item.answer),
                )
            case model.PersonItem():
                return public.PersonOut(
                    slug=loaded.slug,
                    tags=tags,
                    name=item.name,
                    role=item.role,
                    credentials=item.credentials,
                    bio=md.optional(item.bio),
                    photo=self.image(item.photo),
                    same_as=list(item.same_as),
                )
            case model.PostItem():
                return public.PostOut(
                    slug=loaded.slug,
                    tags=tags,
                    title=item.title,
                    date=item.date,
                    author=item.author,
                    excerpt=item.excerpt,
                    body=md.render(item.body),
                )
            case model.EntryItem():
                return public.EntryOut(
                    slug=loaded.slug,
                    tags=tags,
                    title=item.title,
                    summary=item.summary,
                    body=md.render(item.body),
                    image=self.image(item.image),
                )
        raise AssertionError(f"unhandled item type {type(item).__name__}")


def sort_items(items: list[LoadedItem], sort: str) -> list[LoadedItem]:
    """Items sorted by field ``sort`` (``-field`` for descending; ``slug`` is the file's slug).

    Values compare as text; items lacking the field sort last, ties keep slug order.
    """
    descending = sort.startswith("-")
    field = sort.lstrip("-")
    present: list[tuple[str, LoadedItem]] = []
    missing: list[LoadedItem] = []
    for loaded in sorted(items, key=lambda i: i.slug):
        value = loaded.slug if field == "slug" else getattr(loaded.item, field, None)
        if value is None:
            missing.append(loaded)
        else:
            present.append((str(value), loaded))
    # sorted() is stable, also with reverse=True, so ties keep slug order.
    present.sort(key=lambda pair: pair[0], reverse=descending)
    return [loaded for _, loaded in present] + missing
