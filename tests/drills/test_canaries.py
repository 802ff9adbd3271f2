"""The drills' canary check: canary submissions are valid inquiries, and every kind of canary value
is found in process output, alone, wherever a log line would carry it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from frontdesk.submissions.definition import load_forms
from services.forms.validate import validate
from tests.conftest import CLINIC_SITE
from tests.drills.harness import Canaries, assert_no_canary, process_output


def test_canary_submissions_pass_the_contact_form() -> None:
    form = load_forms(CLINIC_SITE)["contact"]
    canaries = Canaries()
    for index in (0, 7, 199):
        outcome = validate(form, canaries.submission(index), "US")
        assert outcome.errors == []
        assert outcome.phone is not None
        assert outcome.phone.e164 == canaries.canary(index).phone_e164


@pytest.mark.parametrize(
    "line",
    [
        "{name}",
        "450 4.1.2 <{local}@elsewhere.example>: Recipient address rejected",
        "host {domain} not found",
        "number {phone}",
        "number {e164}",
        "digits {digits}",
        "{message_json}",
    ],
)
def test_each_canary_value_is_found_alone(tmp_path: Path, line: str) -> None:
    canaries = Canaries()
    canary = canaries.canary(3)
    local, _, domain = canary.email.partition("@")
    text = line.format(
        name=canary.name,
        local=local,
        domain=domain,
        phone=canary.phone,
        e164=canary.phone_e164,
        digits=canary.phone_e164[1:],
        message_json=json.dumps({"msg": canary.message}),
    )
    (tmp_path / "worker.1.log").write_text(f"INFO started\n{text}\nINFO stopped\n")
    with pytest.raises(AssertionError, match="visitor data in process output"):
        assert_no_canary(canaries, process_output(tmp_path))


def test_output_without_canaries_passes(tmp_path: Path) -> None:
    canaries = Canaries()
    canaries.submission(1)
    (tmp_path / "forms.1.log").write_text("submission 01J: staff message sent\n")
    assert_no_canary(canaries, process_output(tmp_path))
