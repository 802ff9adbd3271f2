"""Helpers of the forms service tests: a copy of the clinic site with extra form files."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from litestar.testing import TestClient

from frontdesk.settings import load_settings
from services.forms.app import create_app
from services.forms.internal import create_internal_app
from services.inbox.app import create_app as create_inbox_app
from tests.conftest import CLINIC_SITE

URL = "/v1/forms/contact/submissions"
VALID = {
    "name": "Ann Example",
    "email": "ann@example.com",
    "phone": "+1 415 555 2671",
    "message": "Knee pain",
}
BASE_FORM = """
id: {id}
title: Test form
fields:
  - {{name: name, label: Name, required: true, max_length: 200}}
  - {{name: email, label: Email, type: email, required: true}}
  - {{name: phone, label: Phone, type: phone}}
  - {{name: message, label: Message, type: textarea}}
recipients: [staff@clinic.example]
sender: "Clinic <no-reply@clinic.example>"
"""

ClientFactory = Callable[..., TestClient]  # type: ignore[type-arg]


def form_yaml(form_id: str, extra: str = "") -> str:
    """A minimal form definition with ``extra`` YAML appended."""
    return BASE_FORM.format(id=form_id) + extra


@pytest.fixture
def make_client(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_client: object
) -> Iterator[ClientFactory]:
    """``make_client(forms={"id": yaml}, internal=False, staff=False, **env)``: a TestClient over a
    copy of the clinic site, of the public app, (``internal=True``) of the internal one (metrics,
    health detail) or (``staff=True``) of the inbox, which serves the staff API."""
    stack = ExitStack()

    def factory(
        forms: dict[str, str] | None = None,
        internal: bool = False,
        staff: bool = False,
        **variables: str,
    ) -> TestClient:  # type: ignore[type-arg]
        site = tmp_path / f"site{len(list(tmp_path.iterdir()))}"
        shutil.copytree(CLINIC_SITE, site)
        for form_id, text in (forms or {}).items():
            (site / "forms" / f"{form_id}.yaml").write_text(text)
        monkeypatch.setenv("FRONTDESK_SITE_DIR", str(site))
        for key, value in variables.items():
            monkeypatch.setenv(f"FRONTDESK_{key.upper()}", value)
        build = create_inbox_app if staff else create_internal_app if internal else create_app
        return stack.enter_context(TestClient(build(load_settings())))

    with stack:
        yield factory
