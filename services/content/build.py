"""Resolves a loaded :class:`~services.content.loader.Site` into public JSON types.

Drafts and items whose ``publish_at`` lies after ``now`` are never shown or counted.
"""

from __future__ import annotations

import datetime as dt

from services.content import model, public
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


class Builder:
    """Builds public pages and items of one site at one instant ``now`` (UTC).

    ``forms_public_url`` is the base of form sections' ``action`` and ``definition`` URLs.
    """

    def __init__(self, site: Site, forms_public_url: str, now: dt.datetime) -> None:
        self.site = site
        self.forms_url = forms_public_url.rstrip("/")
        self.now = now
        self.md = MarkdownRenderer()
        self._kinds = {c.name: c for c in site.config.collections}

    def live_items(self, collection: str) -> list[LoadedItem]:
        """The published, already-public items of ``collection`` in its default sort order."""
        config = self._kinds[collection]
        items = [
            loaded
            for loaded in self.site.collections.get(collection, {}).values()
            if is_live(loaded.item.status, loaded.item.publish_at, self.now)
        ]
        return sort_items(items, config.sort)

    def page(self, slug: str) -> public.PageOut | None:
        """The public page ``slug``, or ``None`` when it is unknown or not live."""
        loaded = self.site.pages.get(slug)
        if loaded is None or not is_live(loaded.page.status, loaded.page.publish_at, self.now):
            return None
        page = loaded.page
        return public.PageOut(
            slug=page.slug,
            title=page.title,
            seo=public.SeoOut(title=page.seo.title or page.title, description=page.seo.description),
            updated_at=loaded.mtime,
            sections=[self.section(s) for s in page.sections],
        )

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
        message = (
            section.empty_state.message
            if section.empty_state is not None
            else config.empty_message or DEFAULT_EMPTY_MESSAGE
        )
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
        """An image with ``src`` made absolute under ``/assets/`` unless it already is a URL."""
        if image is None:
            return None
        src = (
            image.src if "://" in image.src or image.src.startswith("/") else f"/assets/{image.src}"
        )
        return public.ImageOut(src=src, alt=image.alt, width=image.width, height=image.height)

    def item(self, loaded: LoadedItem) -> public.ItemOut:
        """One public item of any kind."""
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

    Items lacking the field sort last, ties keep slug order.
    """
    descending = sort.startswith("-")
    field = sort.lstrip("-")

    def key(loaded: LoadedItem) -> tuple[bool, str]:
        value = loaded.slug if field == "slug" else getattr(loaded.item, field, None)
        return (value is None, "" if value is None else str(value))

    ordered = sorted(items, key=lambda i: i.slug)
    present = [i for i in ordered if key(i)[0] is False]
    missing = [i for i in ordered if key(i)[0] is True]
    return sorted(present, key=key, reverse=descending) + missing
