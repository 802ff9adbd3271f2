"""``frontdesk worker`` refuses SMTP settings that cannot work, naming them."""

from pathlib import Path

import pytest

from frontdesk.settings import SettingsError, load_settings
from worker.main import StartError, check_start


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        (
            {"FRONTDESK_SMTP_CA_FILE": "/nonexistent/ca.pem", "FRONTDESK_SMTP_SECURITY": "tls"},
            "FRONTDESK_SMTP_CA_FILE",
        ),
        ({"FRONTDESK_SMTP_CA_FILE": __file__}, "FRONTDESK_SMTP_SECURITY"),
        ({"FRONTDESK_SMTP_PORT": "587", "FRONTDESK_SMTP_SECURITY": "tls"}, "starttls"),
        (
            {"FRONTDESK_SMTP_USERNAME": "clinic", "FRONTDESK_SMTP_SECURITY": "starttls"},
            "FRONTDESK_SMTP_PASSWORD",
        ),
    ],
)
def test_bad_smtp_settings_stop_the_worker(environ: dict[str, str], named: str) -> None:
    with pytest.raises(StartError, match=named):
        check_start(load_settings(environ))


def test_port_465_needs_tls() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"FRONTDESK_SMTP_PORT": "465", "FRONTDESK_SMTP_SECURITY": "starttls"})
    assert "FRONTDESK_SMTP_SECURITY" in str(caught.value)
    assert "FRONTDESK_SMTP_PORT" in str(caught.value)


def test_good_smtp_settings_pass(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    check_start(
        load_settings(
            {
                "FRONTDESK_SMTP_PORT": "465",
                "FRONTDESK_SMTP_SECURITY": "tls",
                "FRONTDESK_SMTP_CA_FILE": str(ca),
                "FRONTDESK_SMTP_USERNAME": "clinic",
                "FRONTDESK_SMTP_PASSWORD": "secret",
            }
        )
    )
