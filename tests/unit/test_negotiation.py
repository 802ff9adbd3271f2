"""The one q-value parser (frontdesk/negotiation.py) and what each header makes of it."""

from __future__ import annotations

import pytest

from frontdesk.bodies import Body
from frontdesk.negotiation import Weighted, quality, weighted
from frontdesk.submissions.definition import FormDefinition, Messages, Translation
from services.forms.web import pick_language, wants_html


def test_members_in_order_with_their_weights() -> None:
    assert weighted("gzip;q=0.5, BR , ,identity;Q=0") == (
        Weighted("gzip", 0.5, 0),
        Weighted("br", 1.0, 1),
        Weighted("identity", 0.0, 3),
    )
    assert weighted("") == ()
    assert weighted("text/html;level=1;q=0.8") == (Weighted("text/html", 0.8, 0),)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([], 1.0),
        (["level=1"], 1.0),
        ([" q=0.25"], 0.25),
        (["Q=0.5"], 0.5),
        (["q=1"], 1.0),
        (["q=0"], 0.0),
        (["q=1.5"], 0.0),  # outside 0-1: not a weight RFC 9110 allows
        (["q=-1"], 0.0),
        (["q=x"], 0.0),
        (["q="], 0.0),
    ],
)
def test_quality(params: list[str], expected: float) -> None:
    assert quality(params) == expected


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        ("gzip", True),
        ("GZIP;Q=0.1", True),
        ("gzip;q=0", False),
        ("*", True),
        ("*;q=0", False),
        ("*;q=0, gzip", True),  # a listed name wins over *
        ("gzip;q=0, *", False),
        ("br, deflate", False),
        ("gzip;q=2", False),  # not a weight: unacceptable, as for Accept and Accept-Language
    ],
)
def test_accept_encoding(header: str, gzip: bool) -> None:
    body = Body.raw(b"x" * 100, "text/plain")
    assert body.select(header)[2] is gzip


def form(*languages: str) -> FormDefinition:
    return FormDefinition(
        id="f",
        title="F",
        fields=[],
        recipients=["staff@example.com"],
        sender="forms@example.com",
        messages=Messages(languages={tag: Translation(success=tag) for tag in languages}),
    )


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr"),
        ("de;q=0.5, fr;q=0.9", "fr"),
        ("de;Q=0.9, fr;q=0.5", "de"),  # the parameter name is case-insensitive
        ("fr;q=0, de;q=0.1", "de"),
        ("pt-br", "pt-BR"),
        ("en, fr", "en"),
        ("*", "en"),
        ("fr;q=1.5, de;q=0.4", "de"),  # not a weight
        ("", "en"),
    ],
)
def test_accept_language(header: str, language: str) -> None:
    assert pick_language(form("fr", "de", "pt-BR"), None, header) == language


def test_accept() -> None:
    post = "application/x-www-form-urlencoded"
    assert wants_html(post, "text/html,application/xhtml+xml,*/*;q=0.8")
    assert not wants_html(post, "*/*")
    assert not wants_html(post, "application/json, text/html;q=0.9")
    assert wants_html(post, "text/html, application/json")
    assert not wants_html(post, "text/html;q=0")
