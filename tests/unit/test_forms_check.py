"""``frontdesk forms check DIR``: every bad form file named with the path inside it."""

import shutil
from pathlib import Path

import pytest

from frontdesk.cli import main
from tests.conftest import CLINIC_SITE

GOOD = """
id: {id}
title: T
fields:
  - {{name: name, label: Name}}
  - {{name: topic, label: Topic, type: select, options: [a, b]}}
recipients: [staff@clinic.example]
sender: "Clinic <no-reply@clinic.example>"
"""


def _site(tmp_path: Path, forms: dict[str, str]) -> Path:
    site = tmp_path / "site"
    shutil.copytree(CLINIC_SITE, site)
    for name, text in forms.items():
        (site / "forms" / f"{name}.yaml").write_text(text)
    return site


def test_clinic_site_forms_are_fine(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["forms", "check", str(CLINIC_SITE)]) == 0
    assert capsys.readouterr().out.strip() == "ok: 2 form(s): callback, contact"


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("phone: {default_region: QQ}\n", "$.phone.default_region: 'QQ' is not a region"),
        ("allowed_origins: ['https://a.example/path']\n", "$.allowed_origins[0]:"),
        ("redirects: {success: 'https://evil.example/'}\n", "$.redirects.success:"),
        ("redirects: {success: '//evil.example/'}\n", "$.redirects.success:"),
        ("messages: {codes: {nope: x}}\n", "$.messages.codes.nope: unknown error code"),
        (
            "messages: {codes: {too_long_phone: x}}\n",
            "$.messages.codes.too_long_phone: unknown error code",
        ),
        ("subject: 'From {nobody}'\n", "$.subject: {nobody} is not a field"),
        ("spam: {honeypot: website}\n", "$.spam.honeypot:"),
        ("extra_fields: maybe\n", "$.extra_fields:"),
        (
            "spam: {captcha: {provider: turnstile, site_key: k, verify_url: 'https://x.example/'}}\n",
            "$.spam.captcha.verify_url: not allowed in a form",
        ),
        ("", "$.recipients[0]: 'not-an-address' is not an email address"),
        # urlsplit cannot read it: the worker would refuse it at every submission instead.
        ("webhook: {url: 'https://[hooks.clinic.example/x'}\n", "$.webhook.url: not a URL"),
        ("webhook: {url: 'https://hooks.clinic.example:x/y'}\n", "$.webhook.url: not a URL"),
        ("webhook: {url: 'https:///x'}\n", "$.webhook.url: not a URL"),
    ],
)
def test_bad_definitions_are_named(
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: str,
    problem: str,
) -> None:
    text = GOOD.format(id="bad") + extra
    if not extra:
        text = text.replace("[staff@clinic.example]", "[not-an-address]")
    site = _site(tmp_path, {"bad": text})
    assert main(["forms", "check", str(site)]) == 1
    out = capsys.readouterr().out
    assert f"forms/bad.yaml: {problem}" in out


def test_select_without_options_and_id_mismatch(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.format(id="other").replace("options: [a, b]", "options: []")
    site = _site(tmp_path, {"bad": text})
    assert main(["forms", "check", str(site)]) == 1
    out = capsys.readouterr().out
    assert "forms/bad.yaml: $.fields[1].options: a select field needs options" in out
    assert "forms/bad.yaml: $.id: 'other' differs from the file name 'bad'" in out


def test_a_directory_without_forms_is_not_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A user report: `frontdesk forms check /tmp` said "ok: 0 form(s)".
    assert main(["forms", "check", str(tmp_path)]) == 1
    assert "no form definitions" in capsys.readouterr().err


ROUTED = (
    GOOD.format(id="routed")
    + """routes:
  field: topic
  to: {a: [a-team@clinic.example]}
cc: [lead@clinic.example]
bcc: [records@clinic.example]
"""
)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("to: {a:", "to: {c:"), "$.routes.to['c']: not an option of field 'topic' ('a', 'b')"),
        (("to: {a:", "to: {A:"), "$.routes.to['A']: not an option of field 'topic'"),
        (("field: topic", "field: name"), "$.routes.field: 'name' is a text field; routes read"),
        (("field: topic", "field: nobody"), "$.routes.field: 'nobody' is not a field of this form"),
        (("[a-team@", "[not-an-address, a-team@"), "$.routes.to['a'][0]: 'not-an-address' is not"),
        (("cc: [lead@", "cc: [x, lead@"), "$.cc[0]: 'x' is not an email address"),
        (("[records@clinic.example]", "[records@clinic.example, y]"), "$.bcc[1]: 'y' is not an"),
        (("to: {a: [a-team@clinic.example]}", "to: {}"), "$.routes.to:"),
        (
            ("to: {a: [a-team@clinic.example]}", "to: {a: []}"),
            "$.routes.to[...]: Expected `array` of length >= 1",
        ),
    ],
)
def test_routes_and_copies_are_checked(
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: tuple[str, str],
    problem: str,
) -> None:
    site = _site(tmp_path, {"routed": ROUTED.replace(*change)})
    assert main(["forms", "check", str(site)]) == 1
    assert f"forms/routed.yaml: {problem}" in capsys.readouterr().out


def test_a_good_route_passes(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _site(tmp_path, {"routed": ROUTED})
    assert main(["forms", "check", str(site)]) == 0
    assert capsys.readouterr().out.strip() == "ok: 3 form(s): callback, contact, routed"


def test_recipient_domains_restrict_every_staff_address(
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = ROUTED
    for address in ("staff@", "a-team@", "lead@", "records@"):
        text = text.replace(f"{address}clinic.example", f"{address}elsewhere.example")
    site = _site(tmp_path, {"routed": text})
    monkeypatch.setenv("FRONTDESK_RECIPIENT_DOMAINS", "clinic.example")
    assert main(["forms", "check", str(site)]) == 1
    out = capsys.readouterr().out
    rule = "mail may go only to clinic.example (FRONTDESK_RECIPIENT_DOMAINS)"
    for path, address in [
        ("$.recipients[0]", "staff@elsewhere.example"),
        ("$.routes.to['a'][0]", "a-team@elsewhere.example"),
        ("$.cc[0]", "lead@elsewhere.example"),
        ("$.bcc[0]", "records@elsewhere.example"),
    ]:
        assert f"forms/routed.yaml: {path}: {address!r}: {rule}" in out
    assert "forms/contact.yaml" not in out  # the clinic's own form stays on its domain
    monkeypatch.setenv("FRONTDESK_RECIPIENT_DOMAINS", "clinic.example,elsewhere.example")
    assert main(["forms", "check", str(site)]) == 0
