"""Where an inquiry came from: the page's URL, title and ``utm_*`` parameters the embed script
posts in reserved fields (:data:`~frontdesk.submissions.record.SOURCE_FIELDS`), or the
``Referer`` header of a plain HTML post, cleaned into a
:class:`~frontdesk.submissions.record.Source` for the record (docs/forms.md, "Where the inquiry
came from").

Everything here is the visitor's word, so it is kept small and inert: a URL on one of the origins
the form's ``allowed_origins`` lists loses its query and fragment (campaign parameters kept apart,
the five standard ones only) and keeps its title; any other URL is reduced to its origin, with no
title or parameters; every text is one line of bounded length with no control characters. None
of it is a form field, so no subject template can name it and it never reaches a mail header.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qsl, quote, urlsplit

from frontdesk.networks import normalise_origin
from frontdesk.submissions.definition import FormDefinition
from frontdesk.submissions.record import UTM_KEYS, Source

URL_MAX_LENGTH = 2000  # a longer page URL is kept as its origin only
TITLE_MAX_LENGTH = 200
UTM_MAX_LENGTH = 200
# Read no further than this: a posted megabyte of URL is not parsed (the body limit bounds it too).
_READ_LIMIT = 8192
# C0/C1 controls, line and paragraph separators, bidi controls (as validate.py refuses in fields),
# and whitespace runs: all become one space.
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\s]+")
# What a path keeps unescaped: RFC 3986 pchar, "/" and "%" (an escape already made stays one).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def one_line(value: str, limit: int) -> str:
    """``value`` in NFC as one line: control characters and whitespace runs folded to one space,
    trimmed, cut to ``limit`` characters (``""`` when nothing is left).
    """
    text = _CONTROL_OR_SPACE.sub(" ", unicodedata.normalize("NFC", value[:_READ_LIMIT])).strip()
    return text[:limit].rstrip()


def _posted(data: dict[str, Any], name: str) -> str | None:
    """A reserved field's value when it is one non-empty string (a repeated name is ignored)."""
    value = data.get(name)
    return value if isinstance(value, str) and value.strip() else None


def _listed_origins(form: FormDefinition) -> set[str]:
    """The origins the form names, normalised; ``*`` and no list name none."""
    return {
        origin
        for origin in (normalise_origin(o) for o in form.allowed_origins or () if o != "*")
        if origin is not None
    }


def _utm_of(query: str) -> dict[str, str]:
    """The standard ``utm_*`` parameters of a URL query (the first of a repeated one), cleaned."""
    utm: dict[str, str] = {}
    for key, value in parse_qsl(query[:_READ_LIMIT], keep_blank_values=False):
        if key in UTM_KEYS and key not in utm:
            cleaned = one_line(value, UTM_MAX_LENGTH)
            if cleaned:
                utm[key] = cleaned
    return utm


class _Page(NamedTuple):
    """A page URL as kept: ``url`` (``None``: not an HTTP(S) URL), whether its origin is
    ``listed`` in the form's ``allowed_origins``, and the ``utm`` parameters of its query.
    """

    url: str | None
    listed: bool
    utm: dict[str, str]


def _page(form: FormDefinition, text: str) -> _Page:
    """A page URL: on an origin the form lists, the origin and the path (percent-escaped) without
    query or fragment, the path dropped too when the whole is over :data:`URL_MAX_LENGTH`; on any
    other origin, the origin alone.
    """
    text = text.strip()[:_READ_LIMIT]
    origin = normalise_origin(text)
    if origin is None:
        return _Page(None, False, {})
    if origin not in _listed_origins(form):
        return _Page(origin, False, {})
    parts = urlsplit(text)
    url = origin + quote(parts.path or "/", safe=_PATH_SAFE)
    return _Page(url if len(url) <= URL_MAX_LENGTH else origin, True, _utm_of(parts.query))


def inquiry_source(
    form: FormDefinition, data: dict[str, Any], referer: str | None
) -> Source | None:
    """The cleaned source of a submission: the posted ``_source_url`` (``via="page"``), else
    ``referer`` (``via="referer"``). With a URL on an origin the form's ``allowed_origins`` lists,
    also ``_source_title`` and the ``utm_*`` values (posted ``_utm_*`` fields over the URL's own
    query); a page elsewhere tells only its origin. ``None`` when no URL is usable.
    """
    posted_url = _posted(data, "_source_url")
    via: Literal["page", "referer"] = "page" if posted_url is not None else "referer"
    page = _page(form, posted_url or referer or "")
    if page.url is None:
        return None
    if not page.listed:
        return Source(url=page.url, via=via)
    utm: dict[str, str] = {}
    for key in UTM_KEYS:  # the standard order; a posted value over the query's
        value = _posted(data, f"_{key}")
        cleaned = one_line(value, UTM_MAX_LENGTH) if value else ""
        if cleaned or key in page.utm:
            utm[key] = cleaned or page.utm[key]
    raw_title = _posted(data, "_source_title")
    title = one_line(raw_title, TITLE_MAX_LENGTH) if raw_title else ""
    return Source(url=page.url, title=title or None, utm=utm, via=via)
