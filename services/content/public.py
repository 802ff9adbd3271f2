"""Public JSON types of the content API: what frontends receive.

Empty states are data: a collection section always has ``items`` (maybe ``[]``), ``total``,
``state`` and ``empty_state.message``; nothing is ever ``null`` where a list or object is promised.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from msgspec import Struct


class Out(Struct, kw_only=True):
    """Common config of the public types."""


class Markdown(Out, kw_only=True):
    """A text field: the editor's CommonMark source and its HTML (raw HTML in the source is escaped)."""

    markdown: str
    html: str


class ImageOut(Out, kw_only=True):
    """An image; ``src`` is absolute (assets are served under ``/assets/``)."""

    src: str
    alt: str
    width: int | None
    height: int | None


class SeoOut(Out, kw_only=True):
    """Search-engine title and description; the page title when none is set."""

    title: str
    description: str | None


class ListItemOut(Out, kw_only=True):
    """A list entry."""

    title: str | None
    body: Markdown


class StepOut(Out, kw_only=True):
    """A step."""

    title: str
    body: Markdown


class RowOut(Out, kw_only=True):
    """A comparison row: one value per column."""

    label: str
    values: list[str]


class EmptyStateOut(Out, kw_only=True):
    """What to show when a collection section is empty."""

    message: str


class FaqOut(Out, tag="faq", tag_field="kind", kw_only=True):
    """A FAQ item."""

    slug: str
    tags: list[str]
    question: str
    answer: Markdown


class PersonOut(Out, tag="person", tag_field="kind", kw_only=True):
    """A person item; ``same_as``: their profiles elsewhere (absolute URLs)."""

    slug: str
    tags: list[str]
    name: str
    role: str | None
    credentials: str | None
    bio: Markdown | None
    photo: ImageOut | None
    same_as: list[str]


class PostOut(Out, tag="post", tag_field="kind", kw_only=True):
    """A post item."""

    slug: str
    tags: list[str]
    title: str
    date: dt.date
    author: str | None
    excerpt: str | None
    body: Markdown


class EntryOut(Out, tag="entry", tag_field="kind", kw_only=True):
    """An entry item (therapy, condition, symptom, treatment)."""

    slug: str
    tags: list[str]
    title: str
    summary: str | None
    body: Markdown
    image: ImageOut | None


ItemOut = FaqOut | PersonOut | PostOut | EntryOut


class SectionOut(Out, tag_field="type", kw_only=True):
    """Fields every section has: ``type``, ``id`` (anchor slug), ``heading``."""

    id: str
    heading: str


class RichTextOut(SectionOut, tag="rich_text", kw_only=True):
    """Free text."""

    body: Markdown


class ListOut(SectionOut, tag="list", kw_only=True):
    """A list."""

    intro: Markdown | None
    style: Literal["bullet", "number"]
    items: list[ListItemOut]
    outro: Markdown | None


class ComparisonOut(SectionOut, tag="comparison", kw_only=True):
    """A comparison table."""

    intro: Markdown | None
    columns: list[str]
    rows: list[RowOut]
    outro: Markdown | None


class StepsOut(SectionOut, tag="steps", kw_only=True):
    """Process steps."""

    intro: Markdown | None
    steps: list[StepOut]
    outro: Markdown | None


class CollectionOut(SectionOut, tag="collection", kw_only=True):
    """Resolved collection items; ``total`` counts matching published items before any limit."""

    collection: str
    items: list[ItemOut]
    total: int
    state: Literal["items", "empty"]
    empty_state: EmptyStateOut
    hide_when_empty: bool


class FormOut(SectionOut, tag="form", kw_only=True):
    """A form: ``action`` is the submission URL, ``definition`` the public definition URL."""

    form: str
    action: str
    definition: str


SectionOutT = RichTextOut | ListOut | ComparisonOut | StepsOut | CollectionOut | FormOut


class PageOut(Out, kw_only=True):
    r"""``GET /v1/pages/{slug}``: the page with every section resolved.

    ``structured_data``: schema.org JSON-LD objects for search engines (the practice, an
    ``FAQPage`` of the FAQ items shown, a ``Person`` per professional shown; maybe ``[]``);
    ``structured_data_json``: the same list serialized with ``<``, ``>`` and ``&`` escaped as
    ``\u003c``, ``\u003e``, ``\u0026``: the text of a ``<script type="application/ld+json">``
    element, set as its text (never as HTML).
    """

    slug: str
    title: str
    seo: SeoOut
    updated_at: dt.datetime
    sections: list[SectionOutT]
    structured_data: list[dict[str, Any]]
    structured_data_json: str


class NavLinkOut(Out, kw_only=True):
    """A navigation entry: ``label`` and the ``slug`` of a published page."""

    label: str
    slug: str


class CollectionSummaryOut(Out, kw_only=True):
    """A collection: ``name``, item ``kind`` and ``count`` of published items."""

    name: str
    kind: Literal["faq", "person", "post", "entry"]
    count: int


class SiteOut(Out, kw_only=True):
    """``GET /v1/site``: site metadata, navigation (published pages only) and collections."""

    name: str
    base_url: str
    default_region: str
    navigation: list[NavLinkOut]
    collections: list[CollectionSummaryOut]


class PageSummaryOut(Out, kw_only=True):
    """One entry of ``GET /v1/pages``; ``etag`` is the identity encoding's strong ETag."""

    slug: str
    title: str
    updated_at: dt.datetime
    etag: str


class PagesOut(Out, kw_only=True):
    """``GET /v1/pages``: every published page."""

    items: list[PageSummaryOut]


class CollectionsOut(Out, kw_only=True):
    """``GET /v1/collections``: every collection of ``site.yaml`` in its order."""

    items: list[CollectionSummaryOut]


class RouteOut(Out, kw_only=True):
    """A published API route and the strong ETag of its identity encoding."""

    path: str
    type: Literal["site", "pages", "page", "collections", "items", "item", "sitemap", "asset"]
    etag: str


class RoutesOut(Out, kw_only=True):
    """``GET /v1/routes``: every published route, for static-site generators and cache warmers."""

    items: list[RouteOut]


class ItemsPageOut(Out, kw_only=True):
    """``GET /v1/collections/{name}/items``: one page of items.

    ``total`` counts every matching published item; ``next_cursor`` is ``null`` on the last page;
    ``state`` and ``empty_state`` follow the rules of collection sections.
    """

    items: list[ItemOut]
    total: int
    next_cursor: str | None
    state: Literal["items", "empty"]
    empty_state: EmptyStateOut
