"""Settings that cannot be unsafe by accident: a short secret key, and SMTP credentials or mail in
clear text over the network, stop every process at start unless ops opt in."""

from __future__ import annotations

import pytest

from frontdesk.settings import SettingsError, load_settings

SHORT = "only-twenty-chars-xx"


def _problems(environ: dict[str, str]) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    return dict(caught.value.problems)


def test_a_short_secret_key_is_refused_without_echoing_it() -> None:
    problems = _problems({"FRONTDESK_SECRET_KEY": SHORT})
    assert "at least 32 characters" in problems["FRONTDESK_SECRET_KEY"]
    with pytest.raises(SettingsError) as caught:
        load_settings({"FRONTDESK_SECRET_KEY": SHORT})
    assert SHORT not in str(caught.value)
    assert load_settings({"FRONTDESK_SECRET_KEY": "k" * 32}).secret_key == "k" * 32


@pytest.mark.parametrize(
    "host", ["smtp.example.com", "10.0.0.5", "localhost.evil.example", "127.0.0.1.nip.io"]
)
def test_plaintext_smtp_to_a_network_relay_is_refused(host: str) -> None:
    problems = _problems({"FRONTDESK_SMTP_HOST": host, "FRONTDESK_SMTP_SECURITY": "none"})
    assert "FRONTDESK_SMTP_ALLOW_PLAINTEXT" in problems["FRONTDESK_SMTP_SECURITY"]
    assert load_settings(
        {
            "FRONTDESK_SMTP_HOST": host,
            "FRONTDESK_SMTP_SECURITY": "none",
            "FRONTDESK_SMTP_ALLOW_PLAINTEXT": "on",
        }
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_plaintext_smtp_to_loopback_is_fine(host: str) -> None:
    assert load_settings({"FRONTDESK_SMTP_HOST": host}).smtp_security == "none"


@pytest.mark.parametrize("host", ["127.0.0.1", "smtp.example.com"])
def test_smtp_auth_without_tls_is_refused(host: str) -> None:
    environ = {
        "FRONTDESK_SMTP_HOST": host,
        "FRONTDESK_SMTP_USERNAME": "clinic",
        "FRONTDESK_SMTP_PASSWORD": "relay-password",
    }
    problems = _problems(environ)
    assert "AUTH" in problems["FRONTDESK_SMTP_USERNAME"]
    assert "relay-password" not in str(problems)
    assert load_settings(environ | {"FRONTDESK_SMTP_SECURITY": "starttls"})
    assert load_settings(environ | {"FRONTDESK_SMTP_ALLOW_PLAINTEXT": "on"})
