"""HTTP details of the forms routes: origins (RFC 6454), the client behind trusted proxies,
plain-HTML-post detection, language choice (RFC 9110 ``Accept-Language``), redirect targets and
the "back to the form" link of the HTML answers.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from litestar.datastructures import Headers

from frontdesk.negotiation import Weighted, weighted
from frontdesk.networks import IpNetwork, normalise_origin
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


# The IPv6 prefix a client is counted by (FRONTDESK_IPV6_PREFIX): one customer network.
DEFAULT_IPV6_PREFIX = 64


def forwarded_for_lines(headers: Headers | Iterable[tuple[bytes, bytes]]) -> list[str]:
    """Every ``X-Forwarded-For`` line of a request, in the order received: from Litestar's
    ``Headers`` or from an ASGI scope's raw ``headers`` (name lower-case, latin-1, as ASGI gives
    them). A proxy may append its own line rather than extend the visitor's, so the lines are one
    list (RFC 9110 §5.3) and reading only the first would read the visitor's own.
    """
    if isinstance(headers, Headers):
        return headers.getall("x-forwarded-for", [])
    return [value.decode("latin-1") for name, value in headers if name == b"x-forwarded-for"]


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IpNetwork]
) -> str:
    """The visitor's IP address: the peer, unless it is a trusted proxy; then the hops of all
    ``forwarded_for`` lines (joined in order, RFC 9110 §5.3) read from the right, skipping trusted
    proxies: the first untrusted hop is the client. Every hop read was appended by a trusted
    proxy, so a visitor's own entries (on the left) are never reached.

    An IPv4-mapped IPv6 address (``::ffff:192.0.2.9``, RFC 4291 §2.5.5.2) is given as IPv4; a
    hop may carry a port (``192.0.2.9:4711``, ``[2001:db8::1]:443``), which is dropped. A hop that
    is not an IP address (a misconfigured proxy), an empty one (``""``, ``a, , b``, a trailing
    comma) included, ends the walk at the proxy that wrote it, so the answer is always an address
    a server or a trusted proxy saw, never visitor text. No peer
    (no ASGI ``client``) is ``unknown``; a peer that is not an IP (a test client) is given as is.
    """
    if peer is None:
        return "unknown"
    address = _address(peer)
    if address is None:
        return peer
    if not trusted or not forwarded_for or not _trusted(address, trusted):
        return str(address)
    hops = [hop for line in forwarded_for for hop in line.split(",")]
    for text in reversed(hops):
        # An empty entry is no address either: skipping it would read on into the visitor's text.
        # Longer text is no address (and stays out of _address's cache).
        hop = _address(text) if len(text) <= _MAX_HOP else None
        if hop is None:
            break
        address = hop
        if not _trusted(hop, trusted):
            break
    return str(address)


def client_bucket(
    peer: str | None,
    forwarded_for_lines: Sequence[str],
    trusted: Sequence[IpNetwork],
    ipv6_prefix: int = DEFAULT_IPV6_PREFIX,
) -> str:
    """The rate-limit bucket of a request: its :func:`client_address`, and for IPv6 the
    ``ipv6_prefix`` network holding it (``2001:db8:1:2::/64``). A /64 is one customer's network
    (RFC 6177; every address in it is the same visitor's to pick), so counting per address lets
    one visitor post from 2^64 buckets. IPv4 (and IPv4-mapped IPv6) is counted per address.

    ``peer`` is the ASGI ``client`` host, ``forwarded_for_lines`` every ``X-Forwarded-For`` line
    (:func:`forwarded_for_lines`), ``trusted`` :func:`parse_networks` of
    ``FRONTDESK_TRUSTED_PROXIES``, ``ipv6_prefix`` ``FRONTDESK_IPV6_PREFIX``. Every limit a
    visitor meets counts this (submissions, phone checks, the staff throttle); the bucket is also
    what a log line may name (an address a server or proxy saw, never header text).
    """
    return address_bucket(client_address(peer, forwarded_for_lines, trusted), ipv6_prefix)


@functools.lru_cache(maxsize=4096)  # pure; a burst comes from the same few addresses
def address_bucket(address: str, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> str:
    """The bucket of one :func:`client_address`: an IPv6 address's ``ipv6_prefix`` network,
    anything else unchanged.
    """
    if ":" not in address:
        return address
    try:
        network = ipaddress.IPv6Network((address, ipv6_prefix), strict=False)
    except ValueError:
        return address
    return str(network)


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# The longest hop that can be an address: "[" + IPv6 with an IPv4 tail and a zone id + "]:65535".
_MAX_HOP = 100


@functools.lru_cache(maxsize=4096)  # pure; the same peers and proxies on every request
def _address(text: str) -> IpAddress | None:
    """One hop or peer as an address (IPv4-mapped IPv6 as IPv4, a port dropped), else ``None``."""
    text = text.strip()
    if text.startswith("["):  # [IPv6]:port
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4:port
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IpAddress, trusted: Sequence[IpNetwork]) -> bool:
    return any(address in network for network in trusted)


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
