"""Source types: what the YAML files of a site directory decode into (unknown keys refused).

The page YAML mirrors the public JSON (:mod:`services.content.public`); text fields here are raw
Markdown strings that the builder turns into ``{"markdown", "html"}``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SLUG_RE = re.compile(SLUG_PATTERN)
Slug = Annotated[str, Meta(pattern=SLUG_PATTERN)]
Status = Literal["draft", "published"]
# An absolute web address: what schema.org ``sameAs``, ``url`` and ``image`` need.
WEB_URL_PATTERN = r"^https?://[^\s<>\"]+$"
WebUrl = Annotated[str, Meta(pattern=WEB_URL_PATTERN)]
# A telephone number with its country code (Google: "include the country code and area code").
Telephone = Annotated[str, Meta(pattern=r"^\+[0-9][0-9 ()./-]{3,30}$")]
HourMinute = Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Weekday = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# schema.org's MedicalBusiness and its subtypes (https://schema.org/MedicalBusiness): the practice's
# ``@type``, the most specific that fits.
PracticeType = Literal[
    "MedicalBusiness",
    "CommunityHealth",
    "Dentist",
    "Dermatology",
    "DietNutrition",
    "Emergency",
    "Geriatric",
    "Gynecologic",
    "MedicalClinic",
    "CovidTestingFacility",
    "Midwifery",
    "Nursing",
    "Obstetric",
    "Oncologic",
    "Optician",
    "Optometric",
    "Otolaryngologic",
    "Pediatric",
    "Pharmacy",
    "Physician",
    "IndividualPhysician",
    "PhysiciansOffice",
    "Physiotherapy",
    "PlasticSurgery",
    "Podiatric",
    "PrimaryCare",
    "Psychiatric",
    "PublicHealth",
]


class Base(Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """Common config: keyword-only fields, unknown keys refused."""


class CollectionConfig(Base, kw_only=True):
    """A collection in ``site.yaml``: ``name``, item ``kind``, default empty-state message and sort.

    ``sort`` is a field name, ``-`` in front for descending (``-date``).
    """

    name: Slug
    kind: Literal["faq", "person", "post", "entry"]
    empty_message: str = "No items found."
    sort: str = "slug"


class NavLink(Base, kw_only=True):
    """One navigation entry of ``site.yaml``: a ``label`` and the ``page`` slug it links to."""

    label: str
    page: Slug


class PostalAddress(Base, kw_only=True):
    """The practice's street address (schema.org ``PostalAddress``); ``country`` is ISO 3166-1
    alpha-2 (``US``), ``region`` the state or province where addresses have one.
    """

    street: str
    locality: str
    region: str | None = None
    postal_code: str | None = None
    country: Annotated[str, Meta(pattern=r"^[A-Z]{2}$")]


class OpeningHours(Base, kw_only=True):
    """One line of opening hours: the ``days`` it applies to, ``opens`` and ``closes`` as ``HH:MM``
    (24-hour clock; ``closes`` before ``opens`` runs past midnight; ``00:00``–``00:00`` is closed
    all day), and optionally the dates it is limited to (holiday hours).
    """

    days: Annotated[list[Weekday], Meta(min_length=1)]
    opens: HourMinute
    closes: HourMinute
    valid_from: dt.date | None = None
    valid_through: dt.date | None = None


class Geo(Base, kw_only=True):
    """Where the practice is: WGS 84 ``latitude`` and ``longitude`` in decimal degrees."""

    latitude: Annotated[float, Meta(ge=-90, le=90)]
    longitude: Annotated[float, Meta(ge=-180, le=180)]


class Practice(Base, kw_only=True):
    """``practice`` of ``site.yaml``: the facts search engines show about the practice, published
    on every page as schema.org JSON-LD (services/content/structured.py).

    ``type`` is ``MedicalBusiness`` or a more specific subtype (``Physiotherapy``, ``Dentist``);
    ``name`` defaults to the site's name and ``url`` to its ``base_url``; ``phone`` starts with the
    country code (``+1 555 0100``); ``same_as`` lists the practice's profiles elsewhere (maps,
    directories, social media) as absolute URLs; ``image`` is an absolute URL of a photo or logo.
    """

    type: PracticeType = "MedicalBusiness"
    name: str | None = None
    description: str | None = None
    url: WebUrl | None = None
    phone: Telephone | None = None
    email: str | None = None
    address: PostalAddress
    geo: Geo | None = None
    opening_hours: list[OpeningHours] = []
    price_range: str | None = None
    image: WebUrl | None = None
    same_as: list[WebUrl] = []


class BuildHookConfig(Base, kw_only=True):
    """A build hook of ``site.yaml``: ``name`` (a slug naming it in logs) and the ``url`` that
    gets a signed POST when the content API serves a new build (docs/content.md "Build hooks").
    """

    name: Slug
    url: str


class SiteConfig(Base, kw_only=True):
    """``site.yaml``: site metadata, phone default region (ISO 3166-1 alpha-2), time zone (IANA;
    read by the forms, frontdesk/site.py), collections, navigation, redirects (old page slug →
    new page slug, answered with 308), the ``practice`` behind the site (search engines'
    structured data; none when unset) and build hooks.
    """

    name: str
    base_url: str
    default_region: Annotated[str, Meta(pattern=r"^[A-Z]{2}$")] = "US"
    timezone: str = "UTC"
    collections: list[CollectionConfig] = []
    navigation: list[NavLink] = []
    redirects: dict[Slug, Slug] = {}
    practice: Practice | None = None
    build_hooks: list[BuildHookConfig] = []


class Image(Base, kw_only=True):
    """An image: ``src`` relative to ``assets/`` or absolute; width and height in pixels."""

    src: str
    alt: str
    width: int | None = None
    height: int | None = None


class Seo(Base, kw_only=True):
    """Search-engine title and description of a page."""

    title: str | None = None
    description: str | None = None


class ListItem(Base, kw_only=True):
    """One list entry: optional lead-in ``title`` and a Markdown ``body``."""

    title: str | None = None
    body: str


class Step(Base, kw_only=True):
    """One step of a ``steps`` section."""

    title: str
    body: str


class ComparisonRow(Base, kw_only=True):
    """One row: its ``label`` and one value per column."""

    label: str
    values: list[str]


class CollectionQuery(Base, kw_only=True):
    """Which items a collection section shows: filter by ``tag``, ``sort`` (``-`` = descending), ``limit``."""

    tag: str | None = None
    sort: str | None = None
    limit: Annotated[int, Meta(ge=1, le=100)] | None = None


class EmptyState(Base, kw_only=True):
    """What a frontend shows when a collection section has no items."""

    message: str


class SectionBase(Base, tag_field="type", kw_only=True):
    """Fields every section has; ``id`` defaults to a slug of the heading."""

    heading: str
    id: str | None = None


class RichTextSection(SectionBase, tag="rich_text", kw_only=True):
    """Free Markdown text."""

    body: str


class ListSection(SectionBase, tag="list", kw_only=True):
    """A bulleted or numbered list with optional intro and outro."""

    items: list[ListItem]
    style: Literal["bullet", "number"] = "bullet"
    intro: str | None = None
    outro: str | None = None


class ComparisonSection(SectionBase, tag="comparison", kw_only=True):
    """A table comparing ``columns`` row by row."""

    columns: list[str]
    rows: list[ComparisonRow]
    intro: str | None = None
    outro: str | None = None


class StepsSection(SectionBase, tag="steps", kw_only=True):
    """An ordered process."""

    steps: list[Step]
    intro: str | None = None
    outro: str | None = None


class CollectionSection(SectionBase, tag="collection", kw_only=True):
    """Items of a collection: hand-picked (``pick``) or queried (``query``)."""

    collection: str
    pick: list[str] | None = None
    query: CollectionQuery | None = None
    empty_state: EmptyState | None = None
    hide_when_empty: bool = False


class FormSection(SectionBase, tag="form", kw_only=True):
    """A form of the forms service, by id."""

    form: str


Section = (
    RichTextSection
    | ListSection
    | ComparisonSection
    | StepsSection
    | CollectionSection
    | FormSection
)


class Page(Base, kw_only=True):
    """``pages/<file>.yaml``: one page with its ordered sections."""

    slug: Slug
    title: str
    sections: list[Section] = []
    seo: Seo = msgspec.field(default_factory=Seo)
    status: Status = "published"
    publish_at: dt.datetime | None = None


class ItemBase(Base, kw_only=True):
    """Fields every collection item has; the slug defaults to the file name."""

    slug: Slug | None = None
    status: Status = "published"
    publish_at: dt.datetime | None = None
    tags: list[str] = []


class FaqItem(ItemBase, kw_only=True):
    """A question and its Markdown answer."""

    question: str
    answer: str


class PersonItem(ItemBase, kw_only=True):
    """A practitioner; ``same_as``: their profiles elsewhere (registries, LinkedIn) as absolute URLs."""

    name: str
    role: str | None = None
    credentials: str | None = None
    bio: str | None = None
    photo: Image | None = None
    same_as: list[WebUrl] = []


class PostItem(ItemBase, kw_only=True):
    """A blog post."""

    title: str
    date: dt.date
    author: str | None = None
    excerpt: str | None = None
    body: str = ""


class EntryItem(ItemBase, kw_only=True):
    """A therapy, condition, symptom or treatment."""

    title: str
    summary: str | None = None
    body: str = ""
    image: Image | None = None


Item = FaqItem | PersonItem | PostItem | EntryItem

ITEM_TYPES: dict[str, type[Item]] = {
    "faq": FaqItem,
    "person": PersonItem,
    "post": PostItem,
    "entry": EntryItem,
}
