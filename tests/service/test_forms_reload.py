"""The forms service over form files that break and are fixed while it runs (in-process apps; the
real processes, the worker and the relay are in tests/e2e/test_site_reload.py)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from litestar.testing import TestClient
from prometheus_client import REGISTRY

from frontdesk.settings import load_settings
from frontdesk.submissions.catalog import Catalog
from services.inbox.app import create_app as create_inbox_app
from tests.service.forms_helpers import URL, VALID, ClientFactory, form_yaml, make_client

__all__ = ["make_client"]

BROKEN = "id: cap\ntitle: [unclosed\n"


def test_every_route_of_a_broken_form_answers_503_with_retry_after(
    make_client: ClientFactory,
) -> None:
    client = make_client(forms={"cap": BROKEN})
    for answer in (
        client.get("/v1/forms/cap"),
        client.post("/v1/forms/cap/submissions", json=VALID),
        client.get("/v1/phone/check", params={"number": "+14155552671", "form": "cap"}),
    ):
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"] == "form_unavailable"
        assert answer.headers["retry-after"] == "60"
    # An id without a file is still unknown, and the other forms are served.
    assert client.get("/v1/forms/nope").json()["code"] == "form_not_found"
    assert client.post(URL, json=VALID).status_code == 201


def test_the_internal_readiness_names_the_broken_forms(make_client: ClientFactory) -> None:
    client = make_client(forms={"cap": BROKEN}, internal=True)
    answer = client.get("/health/ready")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["unavailable_forms"] == ["cap"]
    [error] = body["errors"]
    assert error.startswith("forms/cap.yaml: $: not readable YAML")


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.05)


def _reloads(outcome: str) -> float:
    value = REGISTRY.get_sample_value("frontdesk_forms_reloads_total", {"outcome": outcome})
    return value or 0.0


def test_an_edit_reloads_the_forms_in_place(make_client: ClientFactory) -> None:
    client = make_client(forms={"cap": BROKEN}, content_reload_debounce="0.05")
    site = Path(os.environ["FRONTDESK_SITE_DIR"])
    reloads = _reloads("ok")
    (site / "forms" / "cap.yaml").write_text(form_yaml("cap"))
    _eventually(lambda: client.get("/v1/forms/cap").status_code == 200)
    assert client.post("/v1/forms/cap/submissions", json=VALID).status_code == 201
    assert _reloads("ok") > reloads  # counted in frontdesk_forms_reloads_total

    # Broken again: 503, not the last good definition (the editor's intent is unknown).
    (site / "forms" / "cap.yaml").write_text(BROKEN)
    _eventually(lambda: client.get("/v1/forms/cap").status_code == 503)
    (site / "forms" / "cap.yaml").unlink()
    _eventually(lambda: client.get("/v1/forms/cap").status_code == 404)


def test_a_swapped_forms_folder_reloads_the_forms(make_client: ClientFactory) -> None:
    """A release that swaps the folder whole (renames, as a volume update does) is a change too."""
    client = make_client(forms={"cap": BROKEN}, content_reload_debounce="0.05")
    site = Path(os.environ["FRONTDESK_SITE_DIR"])
    fresh = site / "forms.new"
    shutil.copytree(site / "forms", fresh)
    (fresh / "cap.yaml").write_text(form_yaml("cap"))
    (site / "forms").rename(site / "forms.old")
    fresh.rename(site / "forms")
    _eventually(lambda: client.get("/v1/forms/cap").status_code == 200)


def test_staff_keep_reading_a_form_whose_file_broke(make_client: ClientFactory) -> None:
    """The public routes answer 503, but the stored submissions stay the staff's to read, export
    and erase: the staff routes take a broken file's last good definition.
    """
    token = "reader:" + "r" * 40
    public = make_client(forms={"cap": form_yaml("cap")}, staff_tokens=token)
    assert public.post("/v1/forms/cap/submissions", json=VALID).status_code == 201
    settings = load_settings()
    catalog = Catalog(settings.site_dir)
    catalog.load()
    (settings.site_dir / "forms" / "cap.yaml").write_text(BROKEN)
    catalog.load()
    assert "cap" in catalog.broken
    with TestClient(create_inbox_app(settings, catalog=catalog)) as staff:
        answer = staff.get(
            "/v1/forms/cap/submissions", headers={"Authorization": "Bearer " + "r" * 40}
        )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["items"]) == 1


def test_a_plain_html_post_to_a_form_whose_file_broke_gets_a_page(
    make_client: ClientFactory,
) -> None:
    """A browser without JavaScript posting to a form whose file broke reads a page in the form's
    words (its last good definition), not problem+json; API callers still get the problem."""
    client = make_client(forms={"cap": form_yaml("cap")}, content_reload_debounce="0.05")
    site = Path(os.environ["FRONTDESK_SITE_DIR"])
    (site / "forms" / "cap.yaml").write_text(BROKEN)
    _eventually(lambda: client.get("/v1/forms/cap").status_code == 503)
    answer = client.post(
        "/v1/forms/cap/submissions",
        data={k: str(v) for k, v in VALID.items()},
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["retry-after"] == "60"
    assert "<h1>" in answer.text
    api = client.post("/v1/forms/cap/submissions", json=VALID)
    assert api.headers["content-type"].startswith("application/problem+json")
