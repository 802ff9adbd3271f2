"""Which staff addresses a submission's values pick: only an option of a select or radio field with
a route changes the To; anything else gets the form's recipients."""

from __future__ import annotations

from typing import Any, cast

import pytest

from frontdesk.submissions.definition import Field, FormDefinition, Routes, cross_check

DEFAULT = ["frontdesk@clinic.example", "desk@clinic.example"]


def form(field: Field, to: dict[str, list[str]]) -> FormDefinition:
    return FormDefinition(
        id="booking",
        title="Booking",
        fields=[Field(name="name", label="Name"), field],
        recipients=DEFAULT,
        sender="no-reply@clinic.example",
        routes=Routes(field=field.name, to=to),
    )


TOPIC = Field(name="topic", label="Topic", type="select", options=["Back pain", "Billing", "Other"])
ROUTES = {"Back pain": ["physio-a@clinic.example"], "Billing": ["office@clinic.example"]}


@pytest.mark.parametrize(
    ("values", "to"),
    [
        ({"topic": "Back pain"}, ["physio-a@clinic.example"]),
        ({"topic": "Billing"}, ["office@clinic.example"]),
        ({"topic": "Other"}, DEFAULT),
        ({"topic": ""}, DEFAULT),
        ({}, DEFAULT),
        ({"topic": "billing"}, DEFAULT),
        ({"topic": "physio-a@clinic.example"}, DEFAULT),
        ({"name": "Back pain"}, DEFAULT),
    ],
)
def test_only_a_routed_option_changes_the_recipients(values: dict[str, str], to: list[str]) -> None:
    assert form(TOPIC, ROUTES).staff_recipients(values) == to


def test_an_option_that_was_removed_no_longer_routes() -> None:
    """A route the check would refuse (its value is not an option) never applies."""
    routed = form(TOPIC, {**ROUTES, "Knee": ["knee@clinic.example"]})
    assert routed.staff_recipients({"topic": "Knee"}) == DEFAULT
    assert cross_check(routed) == [
        "$.routes.to['Knee']: not an option of field 'topic' ('Back pain', 'Billing', 'Other')"
    ]


def test_radio_fields_route_like_select_fields() -> None:
    """A radio field's value is one of its options too: routes read it."""
    visit = Field(name="visit", label="Visit", type=cast(Any, "radio"), options=["Clinic", "Video"])
    routed = form(visit, {"Video": ["tele@clinic.example"]})
    assert routed.staff_recipients({"visit": "Video"}) == ["tele@clinic.example"]
    assert routed.staff_recipients({"visit": "Clinic"}) == DEFAULT
    assert not [p for p in cross_check(routed) if p.startswith("$.routes")]


@pytest.mark.parametrize("kind", ["text", "textarea", "email", "checkbox"])
def test_free_text_fields_never_route(kind: str) -> None:
    typed = Field(name="topic", label="Topic", type=cast(Any, kind))
    routed = form(typed, ROUTES)
    assert routed.staff_recipients({"topic": "Back pain"}) == DEFAULT
    assert cross_check(routed)[0].startswith(f"$.routes.field: 'topic' is a {kind} field")


def test_without_routes_the_recipients_get_everything() -> None:
    plain = FormDefinition(
        id="plain", title="P", fields=[TOPIC], recipients=DEFAULT, sender="no-reply@clinic.example"
    )
    assert plain.staff_recipients({"topic": "Back pain"}) == DEFAULT
    assert plain.staff_recipients({}) is not plain.recipients  # a copy: callers may change it
