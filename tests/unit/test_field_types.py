"""The typed fields (date, time, number, radio, checkbox_group, hidden): each one's rules and error
codes in the submission check, the form check's refusals, and the site's time zone deciding
"today"."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.cli import main
from frontdesk.site import SiteSettings, SiteSettingsError, read_site_settings
from frontdesk.submissions import fieldtypes
from frontdesk.submissions.codes import DEFAULT_MESSAGES
from frontdesk.submissions.definition import Field, FormDefinition, cross_check
from services.forms.fields import public_field
from services.forms.validate import validate
from tests.conftest import CLINIC_SITE

TODAY = dt.date(2026, 12, 5)


def _form(*fields: dict[str, Any], **extra: Any) -> FormDefinition:
    return msgspec.convert(
        {
            "id": "f",
            "title": "F",
            "fields": list(fields),
            "recipients": ["staff@clinic.example"],
            "sender": "no-reply@clinic.example",
            "subject": "New inquiry via {form}",
            **extra,
        },
        FormDefinition,
    )


def _codes(form: FormDefinition, data: dict[str, Any], language: str = "en") -> dict[str, str]:
    outcome = validate(form, data, "US", language, today=TODAY)
    return {e.field: e.code for e in outcome.errors}


def _stored(form: FormDefinition, data: dict[str, Any]) -> dict[str, str]:
    outcome = validate(form, data, "US", today=TODAY)
    assert outcome.errors == []
    return outcome.fields


DATE = _form({"name": "day", "label": "Day", "type": "date", "min": "+1d", "max": "+90d"})


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2026-12-06", None),  # today + 1
        ("2027-03-05", None),  # today + 90
        ("2026-12-05", "date_too_early"),
        ("2027-03-06", "date_too_late"),
        ("2026-02-30", "invalid_date"),
        ("06/12/2026", "invalid_date"),
        ("2026-12-6", "invalid_date"),
        ("2026-12-06T10:00", "invalid_date"),
        ("tomorrow", "invalid_date"),
    ],
)
def test_date_values_and_offset_bounds(value: str, code: str | None) -> None:
    assert _codes(DATE, {"day": value}).get("day") == code


def test_date_fixed_bounds_and_optional_empty() -> None:
    form = _form(
        {"name": "d", "label": "D", "type": "date", "min": "2026-01-01", "max": "2026-12-31"}
    )
    assert _codes(form, {"d": "2025-12-31"}) == {"d": "date_too_early"}
    assert _codes(form, {"d": "2027-01-01"}) == {"d": "date_too_late"}
    assert _stored(form, {"d": " 2026-06-01 "}) == {"d": "2026-06-01"}
    assert _stored(form, {"d": ""}) == {}


def test_unquoted_yaml_date_bound_is_read() -> None:
    form = msgspec.yaml.decode(
        b"id: f\ntitle: F\nrecipients: [a@clinic.example]\nsender: b@clinic.example\nsubject: x\n"
        b"fields: [{name: d, label: D, type: date, min: 2026-01-01}]\n",
        type=FormDefinition,
    )
    assert cross_check(form) == []
    assert _codes(form, {"d": "2025-12-31"}) == {"d": "date_too_early"}


def test_today_is_the_site_time_zone_date() -> None:
    # 02:00 UTC on 6 December is still 5 December in New York, already 6 December in Berlin.
    now = dt.datetime(2026, 12, 6, 2, 0, tzinfo=dt.UTC)
    new_york = SiteSettings(base_url="http://x", timezone="America/New_York")
    berlin = SiteSettings(base_url="http://x", timezone="Europe/Berlin")
    assert new_york.today(now) == dt.date(2026, 12, 5)
    assert berlin.today(now) == dt.date(2026, 12, 6)
    assert SiteSettings(base_url="http://x").today(now) == dt.date(2026, 12, 6)
    field = Field(name="d", label="D", type="date", min="+1d", max="+90d")
    info = public_field(field, new_york.today(now))
    assert (info.min, info.max) == ("2026-12-06", "2027-03-05")


def test_site_timezone_must_be_iana(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text("base_url: http://x\ntimezone: Mars/Olympus\n")
    with pytest.raises(SiteSettingsError, match=r"\$\.timezone: 'Mars/Olympus' is not an IANA"):
        read_site_settings(tmp_path)
    (tmp_path / "site.yaml").write_text("base_url: http://x\ntimezone: ../../etc/passwd\n")
    with pytest.raises(SiteSettingsError, match=r"\$\.timezone"):
        read_site_settings(tmp_path)
    (tmp_path / "site.yaml").write_text("base_url: http://x\ntimezone: Europe/Berlin\n")
    assert read_site_settings(tmp_path).timezone == "Europe/Berlin"


TIME = _form({"name": "at", "label": "At", "type": "time", "min": "08:00", "max": "17:30"})


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("08:00", None),
        ("17:30", None),
        ("07:59", "time_too_early"),
        ("17:31", "time_too_late"),
        ("24:00", "invalid_time"),
        ("9:00", "invalid_time"),
        ("09:00:00", "invalid_time"),
        ("noon", "invalid_time"),
    ],
)
def test_time_values_and_bounds(value: str, code: str | None) -> None:
    assert _codes(TIME, {"at": value}).get("at") == code


NUMBER = _form({"name": "n", "label": "N", "type": "number", "min": "0.5", "max": 10, "step": 0.1})


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("0.5", None),
        ("0.3", "number_too_small"),
        ("10", None),
        ("10.0", None),
        ("10.1", "number_too_large"),
        ("0.7", None),  # 0.5 + 2 × 0.1: exact in decimal, not in binary floats
        ("0.75", "number_step"),
        ("1e1", "number_invalid"),
        ("NaN", "number_invalid"),
        ("Infinity", "number_invalid"),
        ("+3", "number_invalid"),
        ("1,5", "number_invalid"),
        ("٣", "number_invalid"),  # an Arabic-Indic digit: not ASCII
    ],
)
def test_number_values_bounds_and_step(value: str, code: str | None) -> None:
    assert _codes(NUMBER, {"n": value}).get("n") == code


def test_number_from_json_number() -> None:
    assert _stored(NUMBER, {"n": 0.7}) == {"n": "0.7"}
    assert _codes(NUMBER, {"n": True}) == {"n": "not_a_string"}


@given(
    st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=Decimal("0.001"), max_value=50, places=3),
    st.integers(min_value=0, max_value=200),
)
def test_step_accepts_exactly_the_multiples(base: Decimal, step: Decimal, k: int) -> None:
    # Steps count from min, as HTML's: min + k × step is taken, half a step off is not.
    on, off = base + k * step, base + k * step + step / 2
    low, stride = format(base, "f"), format(step, "f")
    assert fieldtypes.check_number(format(on, "f"), low, None, stride) is None
    assert fieldtypes.check_number(format(off, "f"), low, None, stride) == "number_step"


def test_step_counts_from_zero_without_min() -> None:
    assert fieldtypes.check_number("0.3", None, None, "0.1") is None
    assert fieldtypes.check_number("-0.3", None, None, "0.1") is None
    assert fieldtypes.check_number("0.35", None, None, "0.1") == "number_step"


RADIO = _form(
    {
        "name": "topic",
        "label": "T",
        "type": "radio",
        "options": ["Back", "Billing"],
        "required": True,
    }
)


def test_radio_takes_one_option() -> None:
    assert _stored(RADIO, {"topic": "Billing"}) == {"topic": "Billing"}
    assert _codes(RADIO, {"topic": "Other"}) == {"topic": "invalid_option"}
    assert _codes(RADIO, {}) == {"topic": "required"}
    assert _codes(RADIO, {"topic": ["Back", "Billing"]}) == {"topic": "not_a_string"}


GROUP = _form(
    {"name": "days", "label": "Days", "type": "checkbox_group", "options": ["Mon", "Tue", "Wed"]}
)


def test_checkbox_group_posted_shapes_and_stored_shape() -> None:
    # A JSON array or a form body's repeated key (a list), or one value; stored in option order.
    assert _stored(GROUP, {"days": ["Wed", "Mon"]}) == {"days": "Mon\nWed"}
    assert _stored(GROUP, {"days": "Tue"}) == {"days": "Tue"}
    assert _stored(GROUP, {"days": ["Tue", "Tue", ""]}) == {"days": "Tue"}
    assert _stored(GROUP, {"days": []}) == {}
    assert _codes(GROUP, {"days": ["Mon", "Sun"]}) == {"days": "invalid_option"}
    assert _codes(GROUP, {"days": ["Mon", 3]}) == {"days": "not_a_string"}
    assert _codes(GROUP, {"days": {"a": 1}}) == {"days": "not_a_string"}
    required = _form(
        {
            "name": "days",
            "label": "D",
            "type": "checkbox_group",
            "options": ["Mon"],
            "required": True,
        }
    )
    assert _codes(required, {"days": [""]}) == {"days": "required"}


def test_hidden_stores_the_editor_value_whatever_is_posted() -> None:
    form = _form({"name": "campaign", "label": "C", "type": "hidden", "value": "winter"})
    assert _stored(form, {"campaign": "hacked"}) == {"campaign": "winter"}
    assert _stored(form, {}) == {"campaign": "winter"}
    assert _stored(form, {"campaign": ["a", "b"]}) == {"campaign": "winter"}


def test_codes_have_default_texts_and_are_localizable() -> None:
    for code in (
        "invalid_date",
        "date_too_early",
        "date_too_late",
        "invalid_time",
        "time_too_early",
        "time_too_late",
        "number_invalid",
        "number_too_small",
        "number_too_large",
        "number_step",
    ):
        assert DEFAULT_MESSAGES[code]
    form = _form(
        {"name": "d", "label": "D", "type": "date", "min": "+1d"},
        messages={
            "languages": {"fr": {"codes": {"date_too_early": "Choisissez une date ultérieure."}}}
        },
    )
    outcome = validate(form, {"d": "2026-12-01"}, "US", "fr", today=TODAY)
    assert outcome.errors[0].message == "Choisissez une date ultérieure."
    assert cross_check(form) == []


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        ({"type": "radio"}, "options: a radio field needs options"),
        ({"type": "checkbox_group"}, "options: a checkbox_group field needs options"),
        ({"type": "text", "options": ["a"]}, "options: only select, radio and checkbox_group"),
        (
            {"type": "checkbox_group", "options": ["a\nb"]},
            "options[0]: an option holds no line break",
        ),
        ({"type": "radio", "options": ["a", "a"]}, "options[1]: 'a' is listed twice"),
        ({"type": "date", "min": "+9d", "max": "+1d"}, "max: '+1d' is before min '+9d'"),
        ({"type": "date", "min": "2026-02-30"}, "min: '2026-02-30' is neither a date"),
        ({"type": "date", "max": "+1w"}, "max: '+1w' is neither a date"),
        ({"type": "time", "min": "18:00", "max": "08:00"}, "max: '08:00' is before min '18:00'"),
        ({"type": "time", "min": 630}, "min: 630 is a number to YAML: quote the time"),
        ({"type": "number", "min": 5, "max": 1}, "max: 1 is before min 5"),
        ({"type": "number", "step": 0}, "step: 0 is not greater than 0"),
        ({"type": "number", "step": "-1"}, "step: '-1' is not greater than 0"),
        ({"type": "number", "max": "1e9"}, "max: '1e9' is not a decimal number"),
        ({"type": "text", "min": 1}, "min: only date, time and number fields have min"),
        ({"type": "date", "step": 1}, "step: only number fields have a step"),
        ({"type": "hidden"}, "value: a hidden field needs the value it stores"),
        ({"type": "text", "value": "x"}, "value: only hidden fields have a value"),
        ({"type": "hidden", "value": "a\nBcc: x@y"}, "value: a hidden value holds no line breaks"),
    ],
)
def test_form_check_refuses(field: dict[str, Any], problem: str) -> None:
    form = _form({"name": "f1", "label": "F", **field})
    problems = cross_check(form)
    assert any(p.startswith(f"$.fields[0].{problem}") for p in problems), problems


def test_form_check_accepts_good_typed_fields() -> None:
    form = _form(
        {"name": "d", "label": "D", "type": "date", "min": "+1d", "max": "2030-01-01"},
        {"name": "t", "label": "T", "type": "time", "min": "08:00"},
        {"name": "n", "label": "N", "type": "number", "min": 1, "max": 8, "step": 1},
        {"name": "r", "label": "R", "type": "radio", "options": ["a", "b"]},
        {"name": "g", "label": "G", "type": "checkbox_group", "options": ["a", "b"]},
        {"name": "h", "label": "H", "type": "hidden", "value": "x"},
    )
    assert cross_check(form) == []


def test_forms_check_reports_a_bad_timezone_and_typed_field_problems(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    shutil.copytree(CLINIC_SITE, site)
    settings = site / "site.yaml"
    settings.write_text(settings.read_text().replace("America/New_York", "Mars/Olympus"))
    form = site / "forms" / "contact.yaml"
    form.write_text(form.read_text().replace("max: +90d", "max: -1d"))
    assert main(["forms", "check", str(site)]) == 1
    out = capsys.readouterr().out
    assert "site.yaml: $.timezone: 'Mars/Olympus' is not an IANA time zone" in out
    assert re.search(
        r"forms/contact\.yaml: \$\.fields\[\d+\]\.max: '-1d' is before min '\+1d'", out
    )
