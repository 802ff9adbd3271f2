"""schema.org JSON-LD of a page: the practice, the FAQ it shows, the professionals it shows.

Built once per build with the page (services/content/build.py), so it is part of the page's bytes
and ETag, never computed per request. What each object carries follows Google's structured-data
documentation:

- the practice (``MedicalBusiness`` or the subtype ``site.yaml`` names): required ``name`` and
  ``address`` (a ``PostalAddress``); recommended ``url``, ``telephone``,
  ``openingHoursSpecification``, ``geo``, ``priceRange``, ``image``; and ``sameAs``. On every page
  when ``site.yaml`` has a ``practice``.
- ``FAQPage``: required ``mainEntity``, each a ``Question`` with ``name`` and ``acceptedAnswer``
  (an ``Answer`` with ``text``). Only the FAQ items the page's collection sections show (Google:
  the questions must be visible on the page), and only when there is one.
- ``Person``: required ``name``; ``jobTitle``, ``honorificSuffix``, ``description``, ``image``,
  ``sameAs`` and ``worksFor`` (the practice) when known. One per professional the page shows.

:func:`script_json` serializes the list for a ``<script type="application/ld+json">`` element.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from services.content import model, public

CONTEXT = "https://schema.org"
_WEB = ("https://", "http://")
# Tags that separate words (blocks, line breaks) become a space; the others (emphasis, links) go.
_BREAK = re.compile(r"</?(?:p|br|hr|li|ul|ol|h[1-6]|blockquote|pre|table|tr|td|th)\b[^>]*>")
_TAG = re.compile(r"<[^>]*>")
# Characters that could end the script element or start markup inside it (``</script>``,
# ``<!--``), written as JSON escapes: the text stays the same JSON, and no HTML parser sees a tag.
_SCRIPT_ESCAPES = str.maketrans(
    {
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)


def script_json(objects: list[dict[str, Any]]) -> str:
    r"""``objects`` as compact JSON with ``<``, ``>``, ``&`` (and U+2028/U+2029) written as
    ``\uXXXX`` escapes, so the text can be placed inside a ``<script type="application/ld+json">``
    as is; ``json.loads`` of it gives ``objects`` back.
    """
    # The characters only ever occur inside JSON strings, where \uXXXX means the same character.
    return msgspec.json.encode(objects).decode().translate(_SCRIPT_ESCAPES)


def plain_text(html_text: str) -> str:
    """The text of HTML that the Markdown renderer made (well-formed tags, raw HTML escaped):
    tags dropped, entities decoded, white space runs made one space.
    """
    return " ".join(html.unescape(_TAG.sub("", _BREAK.sub(" ", html_text))).split())


def practice_id(base_url: str) -> str:
    """The ``@id`` of the practice: other objects (``Person.worksFor``) refer to it."""
    return f"{base_url.rstrip('/')}/#practice"


def practice(config: model.SiteConfig) -> dict[str, Any] | None:
    """The practice of ``site.yaml`` as a ``MedicalBusiness`` (or subtype); ``None`` when unset."""
    facts = config.practice
    if facts is None:
        return None
    address = facts.address
    postal: dict[str, Any] = {
        "@type": "PostalAddress",
        "streetAddress": address.street,
        "addressLocality": address.locality,
    }
    if address.region is not None:
        postal["addressRegion"] = address.region
    if address.postal_code is not None:
        postal["postalCode"] = address.postal_code
    postal["addressCountry"] = address.country
    business: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": facts.type,
        "@id": practice_id(config.base_url),
        "name": facts.name or config.name,
        "url": facts.url or config.base_url,
        "address": postal,
    }
    optional = {
        "description": facts.description,
        "telephone": facts.phone,
        "email": facts.email,
        "image": facts.image,
        "priceRange": facts.price_range,
    }
    business.update({key: value for key, value in optional.items() if value is not None})
    if facts.geo is not None:
        business["geo"] = {
            "@type": "GeoCoordinates",
            "latitude": facts.geo.latitude,
            "longitude": facts.geo.longitude,
        }
    if facts.opening_hours:
        business["openingHoursSpecification"] = [_hours(h) for h in facts.opening_hours]
    if facts.same_as:
        business["sameAs"] = list(facts.same_as)
    return business


def _hours(hours: model.OpeningHours) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "@type": "OpeningHoursSpecification",
        "dayOfWeek": list(hours.days),
        "opens": hours.opens,
        "closes": hours.closes,
    }
    if hours.valid_from is not None:
        spec["validFrom"] = hours.valid_from.isoformat()
    if hours.valid_through is not None:
        spec["validThrough"] = hours.valid_through.isoformat()
    return spec


def faq_page(page_url: str, faqs: Iterable[public.FaqOut]) -> dict[str, Any] | None:
    """An ``FAQPage`` of ``faqs`` (the answer as its HTML: Google shows links and lists in it);
    ``None`` when there are none.
    """
    questions = [
        {
            "@type": "Question",
            "name": faq.question,
            "acceptedAnswer": {"@type": "Answer", "text": faq.answer.html.strip()},
        }
        for faq in faqs
    ]
    if not questions:
        return None
    return {"@context": CONTEXT, "@type": "FAQPage", "url": page_url, "mainEntity": questions}


def person(
    person: public.PersonOut, collection: str, base_url: str, works_for: bool
) -> dict[str, Any]:
    """A ``Person`` of a professional of ``collection``, ``@id`` ``<base_url>/#<collection>/<slug>``;
    ``description`` is the bio as plain text. ``image`` only when the photo is an absolute URL: the
    content API does not know the address it is published under, so an ``/assets/`` path would not
    resolve for a search engine reading the frontend's page.
    """
    photo = person.photo
    entry: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "Person",
        "@id": f"{base_url.rstrip('/')}/#{collection}/{person.slug}",
        "name": person.name,
    }
    optional = {
        "jobTitle": person.role,
        "honorificSuffix": person.credentials,
        "description": plain_text(person.bio.html) if person.bio is not None else None,
        "image": photo.src if photo is not None and photo.src.startswith(_WEB) else None,
    }
    entry.update({key: value for key, value in optional.items() if value is not None})
    if person.same_as:
        entry["sameAs"] = list(person.same_as)
    if works_for:
        entry["worksFor"] = {"@id": practice_id(base_url)}
    return entry
