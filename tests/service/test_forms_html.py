"""Answers to plain HTML posts (a browser without JavaScript): the error page listing each field,
the error page redirect with the codes in its query, the other refusals as pages, and the 303s.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

from tests.conftest import free_port
from tests.service.forms_helpers import URL, VALID, ClientFactory, form_yaml, make_client

__all__ = ["make_client"]

SITE = "http://127.0.0.1:8000"  # the clinic site's base_url
HTML_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
BROWSER = {"accept": HTML_ACCEPT, "origin": SITE, "referer": f"{SITE}/contact.html"}
ERROR = "Oops! Something went wrong while submitting the form."
BARE_URL = "/v1/forms/bare/submissions"
BAD = {**VALID, "email": "ann@", "phone": "12"}


@dataclass
class Page:
    """What a visitor sees on an answer page: ``lang``, ``title``, ``h1``, the error list items
    as text, the paragraphs, the back link (``href``, text) and the inline scripts.
    """

    lang: str | None = None
    title: str = ""
    h1: str = ""
    items: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    back: tuple[str | None, str] = (None, "")
    scripts: list[str] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self.open: list[str] = []
        self.text = ""
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.page.lang = values.get("lang")
        if tag in ("title", "h1", "li", "p", "script"):
            self.open.append(tag)
            self.text = ""
        if tag == "a" and values.get("id") == "back":
            self.href = values.get("href")

    def handle_endtag(self, tag: str) -> None:
        text = " ".join(self.text.split())
        if tag == "a" and self.href is not None and not self.page.back[1]:
            self.page.back = (self.href, text)
        if not self.open or self.open[-1] != tag:
            return
        self.open.pop()
        if tag == "title":
            self.page.title = text
        elif tag == "h1":
            self.page.h1 = text
        elif tag == "li":
            self.page.items.append(text)
        elif tag == "p":
            self.page.paragraphs.append(text)
        elif tag == "script":
            self.page.scripts.append(self.text)

    def handle_data(self, data: str) -> None:
        self.text += data


def read_page(response: httpx.Response) -> Page:
    """The page of an HTML answer, after checking it is one (type, charset, caching, CSP)."""
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    reader = _Reader()
    reader.feed(response.text)
    page = reader.page
    # The only script is ours, and the Content-Security-Policy allows exactly it.
    [script] = page.scripts
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = response.headers["content-security-policy"]
    assert f"script-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy
    return page


def assert_redirect_note(response: httpx.Response, location: str) -> None:
    """A 303 with ``Location`` and a short HTML note linking there (never an empty "JSON")."""
    assert response.status_code == 303
    assert response.headers["location"] == location
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    escaped = location.replace("&", "&amp;")
    assert f'<a href="{escaped}">' in response.text


# --- refused fields: the page ------------------------------------------------------------------


def test_field_errors_page_lists_each_label_and_message(make_client: ClientFactory) -> None:
    client = make_client(forms={"bare": form_yaml("bare")})
    response = client.post(BARE_URL, data=BAD, headers=BROWSER)
    assert response.status_code == 422
    page = read_page(response)
    assert page.lang == "en"
    assert (page.title, page.h1) == (ERROR, ERROR)
    assert page.items == ["Email: Enter a valid email address.", "Phone: Invalid number"]
    # The Referer is on the site's origin: the back link leads to the form's page.
    assert page.back == (f"{SITE}/contact.html", "Go back")
    # What the visitor typed is never shown.
    assert "ann@" not in response.text


def test_per_code_and_per_language_messages_follow_language(make_client: ClientFactory) -> None:
    extra = """
messages:
  codes: {invalid_email: "That email address looks wrong."}
  languages:
    fr:
      error: "Oups ! Le formulaire n'a pas pu être envoyé."
      back: "Revenir au formulaire"
      codes: {too_short: "Numéro trop court"}
"""
    client = make_client(forms={"bare": form_yaml("bare", extra)})
    english = read_page(client.post(BARE_URL, data=BAD, headers=BROWSER))
    assert english.items == ["Email: That email address looks wrong.", "Phone: Invalid number"]

    response = client.post(BARE_URL, data={**BAD, "_language": "fr"}, headers=BROWSER)
    assert response.status_code == 422
    page = read_page(response)
    assert page.lang == "fr"
    assert page.h1 == "Oups ! Le formulaire n'a pas pu être envoyé."
    # A code the translation lacks falls back to the form's English text.
    assert page.items == ["Email: That email address looks wrong.", "Phone: Numéro trop court"]
    assert page.back[1] == "Revenir au formulaire"


def test_nothing_the_visitor_sends_is_echoed_unescaped(make_client: ClientFactory) -> None:
    client = make_client(forms={"bare": form_yaml("bare")})
    attack = "<script>alert(1)</script>"
    response = client.post(
        BARE_URL,
        data={**VALID, "name": attack, "email": f"{attack}@example.com", attack: "x"},
        headers={**BROWSER, "referer": f'{SITE}/contact.html?q="><script>alert(2)</script>'},
    )
    assert response.status_code == 422
    assert "alert(1)</script>" not in response.text
    assert "alert(2)</script>" not in response.text
    page = read_page(response)
    # The unknown field's name is the one posted text on the page: escaped, so it reads as text.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert page.items[0] == f"{attack}: This form has no such field."
    assert page.back[0] == f'{SITE}/contact.html?q="><script>alert(2)</script>'


def test_back_link_without_a_usable_referer_is_the_site(make_client: ClientFactory) -> None:
    client = make_client(forms={"bare": form_yaml("bare")})
    for referer in ("https://evil.example/contact", None):
        headers = {"accept": HTML_ACCEPT}
        if referer:
            headers["referer"] = referer
        page = read_page(client.post(BARE_URL, data=BAD, headers=headers))
        assert page.back[0] == SITE


def test_file_part_is_a_page_with_the_reason(make_client: ClientFactory) -> None:
    client = make_client(forms={"bare": form_yaml("bare")})
    response = client.post(
        BARE_URL,
        data=VALID,
        files={"cv": ("cv.txt", b"hello", "text/plain")},
        headers=BROWSER,
    )
    assert response.status_code == 422
    page = read_page(response)
    assert page.h1 == ERROR
    assert page.items == []
    assert "This form does not accept file uploads." in page.paragraphs


def test_ajax_callers_still_get_problem_json(make_client: ClientFactory) -> None:
    client = make_client(forms={"bare": form_yaml("bare")})
    for accept in ("application/json", "application/json, text/html", "*/*"):
        response = client.post(BARE_URL, data=BAD, headers={**BROWSER, "accept": accept})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == ["email", "phone"]
    as_json = client.post(BARE_URL, json=BAD, headers={**BROWSER, "accept": "text/html"})
    assert as_json.headers["content-type"] == "application/problem+json"


# --- the form's error page: 303 with the codes ---------------------------------------------------


def test_error_page_gets_the_codes_in_its_query(make_client: ClientFactory) -> None:
    extra = "redirects:\n  error: /error.html?from=contact\n"
    client = make_client(forms={"paged": form_yaml("paged", extra)})
    response = client.post(
        "/v1/forms/paged/submissions",
        data={**BAD, "colour": "red"},
        headers=BROWSER,
        follow_redirects=False,
    )
    # An unknown field's name is the visitor's text: in the error list, never in the query.
    assert_redirect_note(
        response, f"{SITE}/error.html?from=contact&error=validation_failed&fields=email,phone"
    )
    assert "retry-after" not in response.headers


def test_contact_form_error_page_gets_the_field_names(make_client: ClientFactory) -> None:
    extra = "redirects:\n  error: /error.html\n"
    client = make_client(forms={"paged": form_yaml("paged", extra)})
    response = client.post(
        "/v1/forms/paged/submissions",
        data={**VALID, "name": ""},
        headers=BROWSER,
        follow_redirects=False,
    )
    assert_redirect_note(response, f"{SITE}/error.html?error=validation_failed&fields=name")


# --- other refusals --------------------------------------------------------------------------------


def test_origin_refused_is_a_403_page(make_client: ClientFactory) -> None:
    client = make_client()  # the clinic's contact form lists its origins
    response = client.post(
        URL,
        data=VALID,
        headers={"accept": HTML_ACCEPT, "origin": "https://evil.example"},
    )
    assert response.status_code == 403
    page = read_page(response)
    assert page.h1 == ERROR
    assert "Submissions to this form are not accepted from this site." in page.paragraphs
    assert page.back[0] == SITE


def early_in_a_minute(needed: float = 10) -> None:
    """Rate limits count per fixed minute: start where the test's posts share one window."""
    if 60 - time.time() % 60 < needed:
        time.sleep(60 - time.time() % 60)


def test_rate_limited_is_a_429_page_with_retry_after(make_client: ClientFactory) -> None:
    extra = "spam:\n  rate_limits: {per_ip_minute: 1}\n"
    client = make_client(forms={"bare": form_yaml("bare", extra)})
    early_in_a_minute()
    assert client.post(BARE_URL, data=VALID, headers=BROWSER).status_code == 200
    response = client.post(BARE_URL, data={**VALID, "message": "Again"}, headers=BROWSER)
    assert response.status_code == 429
    wait = int(response.headers["retry-after"])
    assert 0 < wait <= 60
    page = read_page(response)
    assert f"Too many submissions; try again in {wait} seconds." in page.paragraphs


def test_rate_limited_with_an_error_page_carries_the_wait_in_the_query(
    make_client: ClientFactory,
) -> None:
    extra = "redirects:\n  error: /error.html\nspam:\n  rate_limits: {per_ip_minute: 1}\n"
    client = make_client(forms={"paged": form_yaml("paged", extra)})
    url = "/v1/forms/paged/submissions"
    early_in_a_minute()
    client.post(url, data=VALID, headers=BROWSER)
    response = client.post(
        url, data={**VALID, "message": "Again"}, headers=BROWSER, follow_redirects=False
    )
    assert response.status_code == 303
    assert "retry-after" not in response.headers
    location = response.headers["location"]
    assert location.startswith(f"{SITE}/error.html?error=rate_limited&retry_after=")
    assert_redirect_note(response, location)


def test_store_unavailable_is_a_503_page(make_client: ClientFactory) -> None:
    client = make_client(
        forms={"bare": form_yaml("bare")}, redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    response = client.post(BARE_URL, data=VALID, headers=BROWSER)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    page = read_page(response)
    assert page.h1 == ERROR
    assert (
        "The submission could not be stored; nothing was kept. Try again shortly."
        in page.paragraphs
    )


# --- success -----------------------------------------------------------------------------------


def test_success_303_is_a_note_not_json(make_client: ClientFactory) -> None:
    client = make_client()
    response = client.post(URL, data=VALID, headers=BROWSER, follow_redirects=False)
    assert_redirect_note(response, f"{SITE}/thanks.html")


def test_success_without_a_page_is_a_200_page(make_client: ClientFactory) -> None:
    client = make_client(forms={"bare": form_yaml("bare")})
    response = client.post(BARE_URL, data=VALID, headers=BROWSER)
    assert response.status_code == 200
    page = read_page(response)
    assert page.h1 == "Thank you! Your submission has been received!"
    assert page.items == []
    assert page.back == (f"{SITE}/contact.html", "Go back")


# --- HTML or JSON: Accept quality values --------------------------------------------------------


def test_accept_quality_values_choose_between_page_and_json(make_client: ClientFactory) -> None:
    client = make_client(rate_limits="off")
    refused = {"origin": SITE, "accept": "text/html;q=0, application/json"}
    json_answer = client.post(URL, data=BAD, headers=refused)
    assert json_answer.status_code == 422
    assert json_answer.headers["content-type"] == "application/problem+json"
    preferred = {"origin": SITE, "accept": "application/json;q=0.1, text/html"}
    page_answer = client.post(URL, data=BAD, headers=preferred)
    assert page_answer.status_code == 422
    assert read_page(page_answer).items


def test_a_text_plain_post_from_a_browser_is_a_problem_not_a_page(
    make_client: ClientFactory,
) -> None:
    # <form enctype="text/plain">: not a plain HTML post (docs/forms.md), so 415 problem+json.
    client = make_client(rate_limits="off")
    response = client.post(
        URL,
        content=b"name=Ann\r\nemail=ann@example.com\r\n",
        headers={**BROWSER, "content-type": "text/plain"},
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unsupported_media_type"
