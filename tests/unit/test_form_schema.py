"""`frontdesk forms schema OUT`: a JSON Schema that accepts every example form and refuses what
the forms service refuses by shape (unknown keys, wrong types, malformed bounds).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest

from frontdesk.cli import main
from frontdesk.submissions.definition import FormDefinition
from tests.conftest import ROOT

EXAMPLE_FORMS = sorted(ROOT.glob("examples/*/forms/*.yaml"))

# Every kind of bound and step, as an editor writes them.
BOUNDS_FORM = """
    id: booking
    title: Book a visit
    fields:
      - {name: day, label: Day, type: date, required: true, min: +1d, max: 2027-01-31}
      - {name: since, label: Since, type: date, min: -30d, max: +0d}
      - {name: at, label: Time, type: time, min: "08:00", max: "18:30"}
      - {name: people, label: People, type: number, min: 1, max: 10, step: 1}
      - {name: weight, label: Weight, type: number, min: "0.5", max: 300, step: 0.5}
      - {name: topic, label: Topic, type: select, options: [Back, Knee]}
      - {name: campaign, label: Campaign, type: hidden, value: spring}
    recipients: [frontdesk@clinic.example]
    sender: "Clinic <no-reply@clinic.example>"
    routes: {field: topic, to: {Back: [physio@clinic.example]}}
    messages:
      languages: {fr: {success: Merci !}}
    spam: {captcha: {provider: altcha}, rate_limits: {per_ip_minute: 3}}
    auto_reply: {subject: Thanks, body: "We will call you."}
    webhook: {url: "https://hooks.example/forms"}
"""


def _as_json(text: str) -> Any:
    """A YAML form, read as the forms service reads it, as the JSON an editor's YAML Language
    Server checks: YAML 1.1 dates (an unquoted 2027-01-31) become their ISO text, as in YAML 1.2.
    """
    return json.loads(msgspec.json.encode(msgspec.yaml.decode(text)))


@pytest.fixture(scope="module")
def validator(tmp_path_factory: pytest.TempPathFactory) -> jsonschema.Draft202012Validator:
    out = tmp_path_factory.mktemp("schemas")
    assert main(["forms", "schema", str(out)]) == 0
    schema = json.loads((out / "form.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    return jsonschema.Draft202012Validator(schema)


def _errors(validator: jsonschema.Draft202012Validator, form: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(form)]


def test_there_are_example_forms() -> None:
    assert len(EXAMPLE_FORMS) >= 2


@pytest.mark.parametrize("path", EXAMPLE_FORMS, ids=lambda p: p.name)
def test_every_example_form_is_valid(
    validator: jsonschema.Draft202012Validator, path: Path
) -> None:
    assert _errors(validator, _as_json(path.read_text())) == []


def test_every_key_and_every_bound_shape(validator: jsonschema.Draft202012Validator) -> None:
    text = textwrap.dedent(BOUNDS_FORM)
    msgspec.yaml.decode(text, type=FormDefinition, strict=False)  # the service takes it too
    assert _errors(validator, _as_json(text)) == []


def test_the_schema_names_every_key_of_the_definition(
    validator: jsonschema.Draft202012Validator,
) -> None:
    definitions = validator.schema["$defs"]
    for name in ("FormDefinition", "Field", "Spam", "Captcha", "Messages", "Routes", "Webhook"):
        assert definitions[name]["additionalProperties"] is False
    assert set(definitions["FormDefinition"]["properties"]) == set(FormDefinition.__struct_fields__)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda f: f.update(colour="blue"), "$"),  # unknown key at the top
        (lambda f: f["fields"][0].update(placeholder="Your name"), "$.fields[0]"),
        (lambda f: f["spam"].update(honeypot_name="_x"), "$.spam"),
        (lambda f: f.update(recipients="frontdesk@clinic.example"), "$.recipients"),
        (lambda f: f.update(retention_days="ninety"), "$.retention_days"),
        (lambda f: f.update(retention_days=0), "$.retention_days"),
        (lambda f: f["fields"][0].update(type="colour"), "$.fields[0].type"),
        (lambda f: f["fields"][0].update(required="yes"), "$.fields[0].required"),
        (lambda f: f["fields"][0].update(min="tomorrow"), "$.fields[0].min"),
        (lambda f: f["fields"][2].update(max="25:00"), "$.fields[2].max"),
        (lambda f: f["fields"][3].update(step=0), "$.fields[3].step"),
        (lambda f: f["fields"][3].update(step="-1"), "$.fields[3].step"),
        (lambda f: f["fields"][3].update(step="0.00"), "$.fields[3].step"),
        (lambda f: f.pop("sender"), "$"),
    ],
)
def test_a_wrong_form_is_refused(
    validator: jsonschema.Draft202012Validator, change: Any, where: str
) -> None:
    form = _as_json(textwrap.dedent(BOUNDS_FORM))
    change(form)
    errors = _errors(validator, form)
    assert errors, "accepted"
    assert any(e.startswith(f"{where}:") for e in errors), errors
