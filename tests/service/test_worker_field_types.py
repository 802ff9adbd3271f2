"""The staff email shows the typed fields' values (date, time, radio, checkbox group, number,
hidden), in its text and HTML parts, through the worker and a real relay."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest
import redis

from tests.conftest import clinic_site_copy
from tests.relay import Relay
from tests.service.test_worker_messages import (
    by_kind,
    relay,
    run_jobs,
    smtp_port,
    submit,
    visitor,
    worker_env,
)

__all__ = ["relay", "smtp_port", "worker_env"]

FIELDS = """\
  - {name: at, label: Preferred time, type: time, min: "08:00", max: "18:00"}
  - {name: reach, label: How to reach you, type: radio, options: [Phone, Email]}
  - {name: days, label: Days that suit, type: checkbox_group, options: [Monday, Tuesday, Friday]}
  - {name: visits, label: Visits so far, type: number, min: 0, max: 50, step: 1}
  - {name: campaign, label: Campaign, type: hidden, value: winter-leaflet}
phone:"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The clinic site whose contact form also has every other typed field."""
    site = tmp_path / "site"
    clinic_site_copy(site)  # a full staff email: the clinic's sends a summary
    form = site / "forms" / "contact.yaml"
    form.write_text(form.read_text().replace("phone:", FIELDS, 1))
    return site


def test_staff_email_shows_the_typed_values(
    smtp_port: int, relay: Relay, redis_client: redis.Redis
) -> None:
    day = dt.datetime.now(zoneinfo.ZoneInfo("America/New_York")).date() + dt.timedelta(days=7)
    values = {
        "preferred_date": day.isoformat(),
        "at": "09:30",
        "reach": "Email",
        "days": ["Friday", "Monday"],
        "visits": "3",
        "campaign": "posted-and-ignored",
    }
    submit({**visitor(), **values})  # type: ignore[dict-item]
    run_jobs(redis_client)
    staff = by_kind(relay.wait(1), "staff")
    text = staff.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = staff.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert f"Preferred appointment date: {day.isoformat()}" in text
    assert "Preferred time: 09:30" in text
    assert "How to reach you: Email" in text
    # A checkbox group: one chosen option a line, indented under its label, in the form's order.
    assert "Days that suit: \n  Monday\n  Friday\n" in text
    assert "Visits so far: 3" in text
    assert "Campaign: winter-leaflet" in text
    assert "posted-and-ignored" not in text + html
    for shown in (day.isoformat(), "09:30", "Email", "Monday\nFriday", "winter-leaflet"):
        assert shown in html
