"""Origins, client IPs, languages, redirect targets and back links of the forms routes."""

import msgspec
import pytest
from litestar.datastructures import Headers

from frontdesk.networks import (
    address_bucket,
    client_address,
    client_bucket,
    forwarded_for_lines,
    normalise_origin,
    parse_networks,
)
from frontdesk.submissions.definition import FormDefinition
from services.forms.web import (
    MAX_BACK_URL,
    back_url,
    origin_allowed,
    pick_language,
    posting_origin,
    resolve_redirect,
    wants_html,
    with_query,
)

FORM = msgspec.convert(
    {
        "id": "contact",
        "title": "T",
        "fields": [],
        "recipients": ["a@example.com"],
        "sender": "a@example.com",
        "allowed_origins": ["http://127.0.0.1:8000", "https://clinic.example/"],
        "messages": {"languages": {"fr": {"success": "Merci"}, "pt-BR": {"success": "Obrigado"}}},
    },
    FormDefinition,
)


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("https://Clinic.Example:443/", "https://clinic.example"),
        ("http://localhost:8000/contact?x=1", "http://localhost:8000"),
        ("null", None),
        ("file:///tmp/x.html", None),
        ("", None),
    ],
)
def test_normalise_origin(text: str, origin: str | None) -> None:
    assert normalise_origin(text) == origin


def test_origin_allowlist_with_trailing_slash_and_ports() -> None:
    assert origin_allowed(FORM, "https://clinic.example")
    assert origin_allowed(FORM, "http://127.0.0.1:8000")
    assert not origin_allowed(FORM, "http://localhost:8000")  # another origin than 127.0.0.1
    assert not origin_allowed(FORM, None)


def test_posting_origin_prefers_origin_then_referer() -> None:
    assert posting_origin("https://a.example", "https://b.example/x") == (True, "https://a.example")
    assert posting_origin(None, "https://b.example/x") == (True, "https://b.example")
    assert posting_origin(None, None) == (False, None)
    assert posting_origin("null", None) == (True, None)


def test_client_bucket_believes_forwarded_for_only_from_trusted_proxies() -> None:
    trusted = parse_networks(["10.0.0.0/8"])
    assert client_bucket("10.0.0.5", ["203.0.113.9, 10.0.0.7"], trusted) == "203.0.113.9"
    assert client_bucket("198.51.100.1", ["203.0.113.9"], trusted) == "198.51.100.1"
    assert client_bucket("10.0.0.5", ["203.0.113.9"], []) == "10.0.0.5"
    # A spoofed left-most entry does not win: the first untrusted hop from the right does.
    assert client_bucket("10.0.0.5", ["1.1.1.1, 203.0.113.9"], trusted) == "203.0.113.9"
    # Only trusted proxies' entries are passed: all of them trusted, the left-most one is it.
    assert client_bucket("10.0.0.5", ["10.1.1.1, 10.2.2.2"], trusted) == "10.1.1.1"
    assert client_bucket("10.0.0.5", [], trusted) == "10.0.0.5"


def test_every_forwarded_for_line_is_read_as_one_list_from_the_right() -> None:
    """RFC 9110 §5.3: repeated lines are one comma-separated list, in order. A proxy that appends
    its own line puts the client it saw last; the visitor's own first line is never reached."""
    trusted = parse_networks(["10.0.0.0/8"])
    assert client_bucket("10.0.0.5", ["1.1.1.1", "203.0.113.9"], trusted) == "203.0.113.9"
    assert client_bucket("10.0.0.5", ["1.1.1.1, 2.2.2.2", "203.0.113.9, 10.0.0.7"], trusted) == (
        "203.0.113.9"
    )
    # An empty entry is not skipped: see test_an_empty_hop_ends_the_walk...
    assert client_bucket("10.0.0.5", ["203.0.113.9", "10.0.0.7", " , "], trusted) == "10.0.0.5"


def test_forwarded_for_lines_come_from_litestar_headers_and_raw_asgi_headers() -> None:
    raw = [
        (b"x-forwarded-for", b"1.1.1.1"),
        (b"host", b"example.org"),
        (b"x-forwarded-for", b"203.0.113.9"),
    ]
    assert forwarded_for_lines(raw) == ["1.1.1.1", "203.0.113.9"]
    assert forwarded_for_lines(Headers(raw)) == ["1.1.1.1", "203.0.113.9"]
    assert forwarded_for_lines([(b"host", b"example.org")]) == []


def test_ipv6_clients_are_counted_per_network_of_the_configured_prefix() -> None:
    assert client_bucket("2001:db8:1:2::5", [], []) == "2001:db8:1:2::/64"
    assert client_bucket("2001:db8:1:2:ffff::1", [], []) == "2001:db8:1:2::/64"
    assert client_bucket("2001:db8:1:3::5", [], []) == "2001:db8:1:3::/64"
    assert client_bucket("2001:db8:1:2::5", [], [], 48) == "2001:db8:1::/48"
    assert client_bucket("2001:db8:1:2::5", [], [], 128) == "2001:db8:1:2::5/128"
    trusted = parse_networks(["::1/128"])
    assert client_bucket("::1", ["2001:db8:9:9::1"], trusted) == "2001:db8:9:9::/64"
    assert client_bucket("192.0.2.9", [], [], 64) == "192.0.2.9"


def test_ipv4_mapped_ipv6_is_the_ipv4_address() -> None:
    """A dual-stack socket gives IPv4 peers as ``::ffff:a.b.c.d``: the same client, the same
    bucket, and trusted as the IPv4 proxy it is."""
    assert client_bucket("::ffff:192.0.2.9", [], []) == "192.0.2.9"
    trusted = parse_networks(["127.0.0.1/32"])
    assert client_bucket("::ffff:127.0.0.1", ["::ffff:198.51.100.4"], trusted) == "198.51.100.4"
    assert parse_networks(["::ffff:10.0.0.0/104"]) == parse_networks(["10.0.0.0/8"])
    assert client_bucket("10.0.0.1", ["203.0.113.9"], parse_networks(["::ffff:10.0.0.0/104"])) == (
        "203.0.113.9"
    )


def test_hops_with_ports_and_hops_that_are_not_addresses() -> None:
    trusted = parse_networks(["10.0.0.0/8"])
    assert client_bucket("10.0.0.5", ["203.0.113.9:4711"], trusted) == "203.0.113.9"
    assert client_address("10.0.0.5", ["[2001:db8::1]:443"], trusted) == "2001:db8::1"
    # Not an address (a misconfigured proxy): the walk ends at the proxy that wrote it, so the
    # answer is never text a visitor made up (it becomes part of a Redis key and log lines).
    assert client_bucket("10.0.0.5", ["unknown"], trusted) == "10.0.0.5"
    assert client_bucket("10.0.0.5", ["evil}{key, 10.0.0.7"], trusted) == "10.0.0.7"
    assert client_bucket("10.0.0.5", [" " * 200 + "203.0.113.9"], trusted) == "10.0.0.5"
    # No peer (no ASGI client), or a peer the server names otherwise (a test client).
    assert client_bucket(None, ["203.0.113.9"], trusted) == "unknown"
    assert client_bucket("testclient", ["203.0.113.9"], trusted) == "testclient"


def test_an_empty_hop_ends_the_walk_like_any_hop_that_is_not_an_address() -> None:
    """A trusted proxy that writes an empty entry (an unset variable in its configuration) wrote
    no client: skipping it read the visitor's own line, so two lines, ``203.0.113.N`` then an
    empty one, gave every post a bucket of the visitor's choosing. The walk ends at that proxy."""
    trusted = parse_networks(["10.0.0.0/8"])
    buckets = {client_bucket("10.0.0.5", [f"203.0.113.{n}", ""], trusted) for n in range(1, 6)}
    assert buckets == {"10.0.0.5"}
    assert client_bucket("10.0.0.5", ["203.0.113.9,"], trusted) == "10.0.0.5"
    assert client_bucket("10.0.0.5", ["203.0.113.9", " "], trusted) == "10.0.0.5"
    # Written by the trusted proxy 10.0.0.7: the walk ends there.
    assert client_bucket("10.0.0.5", ["203.0.113.9", " , 10.0.0.7"], trusted) == "10.0.0.7"
    assert client_bucket("10.0.0.5", ["203.0.113.9, , 10.0.0.7"], trusted) == "10.0.0.7"


def test_the_client_address_is_the_address_not_the_bucket() -> None:
    """The CAPTCHA provider is told an address (``remoteip``), never a network."""
    trusted = parse_networks(["10.0.0.0/8"])
    assert client_address("10.0.0.5", ["1.1.1.1", "2001:db8:1:2::5"], trusted) == "2001:db8:1:2::5"
    assert address_bucket("2001:db8:1:2::5") == "2001:db8:1:2::/64"
    assert address_bucket("unknown") == "unknown"


@pytest.mark.parametrize(
    ("content_type", "accept", "html"),
    [
        ("application/x-www-form-urlencoded", "text/html,application/xhtml+xml,*/*;q=0.8", True),
        ("multipart/form-data", "text/html", True),
        ("application/x-www-form-urlencoded", "application/json, text/html", False),
        ("application/x-www-form-urlencoded", "*/*", False),
        ("application/json", "text/html", False),
        # Quality values decide (RFC 9110 §12.5.1), not the order alone.
        ("application/x-www-form-urlencoded", "text/html;q=0, application/json", False),
        ("application/x-www-form-urlencoded", "application/json;q=0.1, text/html", True),
        ("application/x-www-form-urlencoded", "text/html;q=0", False),
        ("application/x-www-form-urlencoded", "text/html;q=0.5", True),
        ("application/x-www-form-urlencoded", "TEXT/HTML ; Q=0.5, application/json;q=0.4", True),
        ("application/x-www-form-urlencoded", "text/html;level=1;q=0.8, application/json", False),
        ("application/x-www-form-urlencoded", "application/problem+json, text/html;q=0.9", False),
        ("application/x-www-form-urlencoded", "application/*;q=0.2, text/html;q=0.1", False),
        ("application/x-www-form-urlencoded", "text/html;q=nonsense, application/json", False),
        # Equal quality: a named type beats a range, then the one listed first wins.
        ("application/x-www-form-urlencoded", "text/html, application/json", True),
        ("application/x-www-form-urlencoded", "*/*, text/html", True),
        ("application/x-www-form-urlencoded", "text/*, application/json;q=0.5", True),
        ("application/x-www-form-urlencoded", "application/ld+json, text/html", False),
        ("application/x-www-form-urlencoded", "", False),
        (
            "application/x-www-form-urlencoded",
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
            "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
            True,
        ),
    ],
)
def test_plain_html_post_detection(content_type: str, accept: str, html: bool) -> None:
    assert wants_html(content_type, accept) is html


@pytest.mark.parametrize(
    ("posted", "header", "language"),
    [
        (None, "fr-CH, fr;q=0.9", "fr"),
        (None, "de, en;q=0.5", "en"),
        (None, "pt-br", "pt-BR"),
        (None, "en;q=0.9, fr;q=0.8", "en"),
        ("fr", "en", "fr"),
        ("xx", "fr", "fr"),
        (None, None, "en"),
    ],
)
def test_pick_language(posted: str | None, header: str | None, language: str) -> None:
    assert pick_language(FORM, posted, header) == language


@pytest.mark.parametrize(
    ("target", "resolved"),
    [
        ("/thanks.html", "http://127.0.0.1:8000/thanks.html"),
        ("https://clinic.example/ok", "https://clinic.example/ok"),
        ("https://evil.example/", None),
        ("//evil.example/x", None),
        ("javascript:alert(1)", None),
        (None, None),
    ],
)
def test_redirect_targets_never_leave_allowed_origins(
    target: str | None, resolved: str | None
) -> None:
    assert resolve_redirect(target, "http://127.0.0.1:8000", FORM) == resolved


SITE = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("referer", "link"),
    [
        ("http://127.0.0.1:8000/contact.html?x=1", "http://127.0.0.1:8000/contact.html?x=1"),
        ("https://clinic.example/kontakt", "https://clinic.example/kontakt"),
        # Another site, a scheme that is not http(s), nothing, or a URL too long to bother with:
        # the site's base_url.
        ("https://evil.example/contact", SITE),
        ("javascript:alert(1)", SITE),
        ("null", SITE),
        (None, SITE),
        (f"{SITE}/{'x' * MAX_BACK_URL}", SITE),
    ],
)
def test_back_link_is_the_referer_on_an_allowed_origin(referer: str | None, link: str) -> None:
    assert back_url(referer, SITE, FORM) == link


def test_back_link_with_any_origin_allowed_stays_on_the_site() -> None:
    anywhere = msgspec.structs.replace(FORM, allowed_origins=None)
    assert back_url("https://elsewhere.example/form", SITE, anywhere) == SITE
    assert back_url(f"{SITE}/contact.html", SITE, anywhere) == f"{SITE}/contact.html"


@pytest.mark.parametrize(
    ("url", "params", "result"),
    [
        (
            "http://127.0.0.1:8000/error.html",
            {"error": "validation_failed", "fields": "phone,email"},
            "http://127.0.0.1:8000/error.html?error=validation_failed&fields=phone,email",
        ),
        (
            "https://clinic.example/oops?lang=fr#top",
            {"error": "rate_limited", "retry_after": "42"},
            "https://clinic.example/oops?lang=fr&error=rate_limited&retry_after=42#top",
        ),
        ("/e", {"error": "a b&c"}, "/e?error=a%20b%26c"),
    ],
)
def test_with_query_appends_and_keeps_commas(url: str, params: dict[str, str], result: str) -> None:
    assert with_query(url, params) == result
