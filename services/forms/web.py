"""HTTP details of the forms routes: origins (RFC 6454), the client behind trusted proxies,
plain-HTML-post detection, language choice (RFC 9110 ``Accept-Language``), redirect targets and
the "back to the form" link of the HTML answers.
"""

from __future__ import annotations

import functools
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from frontdesk.negotiation import Weighted, weighted
from frontdesk.networks import normalise_origin
from frontdesk.submissions.definition import FormDefinition

# Public reads of the forms service (definitions, phone checks) are readable from any origin.
ANY_ORIGIN = {"Access-Control-Allow-Origin": "*"}


def origin_allowed(form: FormDefinition, origin: str | None) -> bool:
    """Whether ``origin`` (normalised) may submit to ``form``; no ``allowed_origins``: any origin."""
    if form.allowed_origins is None or "*" in form.allowed_origins:
        return True
    return origin is not None and origin in {normalise_origin(o) for o in form.allowed_origins}


def posting_origin(
    origin_header: str | None, referer_header: str | None
) -> tuple[bool, str | None]:
    """``(present, origin)``: the ``Origin`` header or, lacking it, the origin of ``Referer``.

    ``present`` is false when neither header was sent (flagged ``origin_unknown``); ``origin`` is
    ``None`` for an opaque origin (``Origin: null``), which no allowlist matches.
    """
    if origin_header is not None:
        return True, normalise_origin(origin_header)
    if referer_header:
        return True, normalise_origin(referer_header)
    return False, None


def wants_html(content_type: str, accept: str) -> bool:
    """A plain HTML post (docs/embedding.md): urlencoded or multipart, and ``Accept`` prefers ``text/html``
    to JSON by quality value (RFC 9110 §12.5.1: each type takes the ``q`` of the most specific
    range that matches it; ``q=0`` means "not acceptable"). At equal quality a type named outright
    beats one matched by a range, then the one listed first wins, so a browser's
    ``text/html,…,*/*;q=0.8`` is HTML, ``*/*`` alone JSON, and ``text/html, application/json``
    HTML. JSON is ``application/json``, ``application/problem+json`` or a listed ``+json`` type.
    """
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return False
    return _prefers_html(accept)


# How much an Accept header wants one type: (quality, specificity of the matching entry: 2 the
# type itself, 1 "type/*", 0 "*/*", minus its position). Higher is preferred; q=0 never is.
_Rank = tuple[float, int, int]
_NOT_ACCEPTABLE: _Rank = (0.0, -1, 0)
_JSON_TYPES = ("application/json", "application/problem+json")


@functools.lru_cache(maxsize=1024)  # pure; browsers send a handful of distinct headers
def _prefers_html(accept: str) -> bool:
    entries = weighted(accept)
    json_types = {*_JSON_TYPES, *(m for m, _, _ in entries if m.endswith("+json") and "*" not in m)}
    html = _rank(entries, "text/html")
    json = max(_rank(entries, media) for media in json_types)
    return html[0] > 0 and html > json


def _rank(entries: tuple[Weighted, ...], media: str) -> _Rank:
    """``media``'s rank under the most specific entry matching it (RFC 9110 §12.5.1)."""
    ranges = {media: 2, media.split("/")[0] + "/*": 1, "*/*": 0}
    matching = [(ranges[m], q, -p) for m, q, p in entries if m in ranges]
    if not matching:
        return _NOT_ACCEPTABLE
    specificity, quality, position = max(matching)
    return (quality, specificity, position) if quality > 0 else _NOT_ACCEPTABLE


def pick_language(form: FormDefinition, posted: str | None, accept_language: str | None) -> str:
    """The language of the answer's texts: ``_language`` if the form has it, else the best of
    ``Accept-Language`` (q-values, RFC 9110 §12.5.4; primary subtag fallback), else ``en``.
    """
    available = {tag.lower(): tag for tag in form.messages.languages}
    candidates: list[tuple[float, int, str]] = []
    if posted:
        candidates.append((2.0, 0, posted))
    for tag, quality, position in weighted(accept_language or ""):
        if quality > 0:
            candidates.append((quality, position + 1, tag))
    for _, _, tag in sorted(candidates, key=lambda c: (-c[0], c[1])):
        lowered = tag.lower()
        if lowered in ("en", "*") or lowered.startswith("en-"):
            return "en"
        for option in (lowered, lowered.split("-")[0]):
            if option in available:
                return available[option]
    return "en"


def resolve_redirect(target: str | None, base_url: str, form: FormDefinition) -> str | None:
    """An absolute redirect URL: a path is resolved against the site's ``base_url``; an absolute
    URL must be on the site's origin or an allowed origin of ``form``. Anything else → ``None``
    (never an open redirect; ``//evil.example`` counts as absolute).
    """
    if not target:
        return None
    resolved = urljoin(base_url, target)
    origin = normalise_origin(resolved)
    if origin is None:
        return None
    return resolved if origin in _link_origins(base_url, form) else None


def _link_origins(base_url: str, form: FormDefinition) -> set[str | None]:
    """Origins a redirect or link may lead to: the site's and the form's listed ones (not ``*``)."""
    allowed = {normalise_origin(base_url)}
    allowed |= {normalise_origin(o) for o in form.allowed_origins or [] if o != "*"}
    return allowed


# Longer Referers are not worth linking to (and no browser sends one for a contact page).
MAX_BACK_URL = 2000


def back_url(referer: str | None, base_url: str, form: FormDefinition) -> str:
    """Where the HTML answer's "back" link points: the ``Referer`` (the page that posted) when it is
    an http(s) URL on the site's origin or an origin ``form`` lists (as for redirects: ``*`` and
    "no list" name no origin), else the site's ``base_url``. Never a link to another site.
    """
    if referer and len(referer) <= MAX_BACK_URL:
        origin = normalise_origin(referer)
        if origin is not None and origin in _link_origins(base_url, form):
            return referer.strip()
    return base_url


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` appended to its query (kept parameters first, fragment kept);
    commas stay literal so ``fields=phone,email`` reads as written.
    """
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    encoded = urlencode(query, safe=",", quote_via=quote)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, encoded, parts.fragment))
