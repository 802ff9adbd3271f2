"""Origins, client IPs, languages and redirect targets of the forms routes."""

import msgspec
import pytest

from services.forms.definition import FormDefinition
from services.forms.web import (
    client_ip,
    normalise_origin,
    origin_allowed,
    parse_networks,
    pick_language,
    posting_origin,
    resolve_redirect,
    wants_html,
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


def test_client_ip_believes_forwarded_for_only_from_trusted_proxies() -> None:
    trusted = parse_networks(["10.0.0.0/8"])
    assert client_ip("10.0.0.5", "203.0.113.9, 10.0.0.7", trusted) == "203.0.113.9"
    assert client_ip("198.51.100.1", "203.0.113.9", trusted) == "198.51.100.1"
    assert client_ip("10.0.0.5", "203.0.113.9", []) == "10.0.0.5"
    # A spoofed left-most entry does not win: the first untrusted hop from the right does.
    assert client_ip("10.0.0.5", "1.1.1.1, 203.0.113.9", trusted) == "203.0.113.9"


@pytest.mark.parametrize(
    ("content_type", "accept", "html"),
    [
        ("application/x-www-form-urlencoded", "text/html,application/xhtml+xml,*/*;q=0.8", True),
        ("multipart/form-data", "text/html", True),
        ("application/x-www-form-urlencoded", "application/json, text/html", False),
        ("application/x-www-form-urlencoded", "*/*", False),
        ("application/json", "text/html", False),
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
