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
