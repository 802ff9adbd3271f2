"""Site templates are content, not code: the worker renders them in Jinja's sandbox, against a
real relay and real Redis (in-process SimpleWorker), and ``frontdesk forms check`` reports them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from frontdesk.cli import main
from tests.conftest import CLINIC_SITE
from tests.relay import Relay, running
from tests.service.test_worker_messages import run_jobs, stored, submit, visitor


def _payload(marker: Path) -> str:
    return "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}\n"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    shutil.copytree(CLINIC_SITE, site)
    return site


@pytest.fixture
def relay(
    env: dict[str, str], site: Path, monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis
) -> Iterator[Relay]:
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(site))
    monkeypatch.setenv("FRONTDESK_RATE_LIMITS", "off")
    monkeypatch.setenv("FRONTDESK_SMTP_TIMEOUT", "3")
    relay = Relay()
    with running(relay) as port:
        monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
        yield relay


def test_template_cannot_run_code_in_the_worker(
    relay: Relay, site: Path, tmp_path: Path, redis_client: redis.Redis
) -> None:
    marker = tmp_path / "pwned"
    (site / "templates").mkdir(exist_ok=True)
    (site / "templates" / "staff.txt.j2").write_text(_payload(marker))
    submission_id = submit(visitor())
    run_jobs(redis_client)

    assert not marker.exists(), "the template ran a shell command as the worker's user"
    state = stored(redis_client, submission_id).message("staff")
    assert state is not None
    assert state.status == "failed"
    assert state.last_error is not None
    assert state.last_error.text.startswith("template error: SecurityError")
    assert relay.accepted == []


@pytest.mark.usefixtures("env")
def test_forms_check_reports_an_unsafe_template(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    (site / "templates" / "contact").mkdir(parents=True)
    (site / "templates" / "contact" / "auto_reply.html.j2").write_text(_payload(marker))
    assert main(["forms", "check", str(site)]) == 1
    out = capsys.readouterr().out
    assert "templates/contact/auto_reply.html.j2: SecurityError: " in out
    assert not marker.exists()


@pytest.mark.usefixtures("env")
def test_a_linked_template_is_refused(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A template linked to a file outside the site would mail that file to the recipients."""
    secret = tmp_path / "environ"
    secret.write_text("FRONTDESK_SECRET_KEY=canary-5d1e")
    (site / "templates").mkdir(exist_ok=True)
    (site / "templates" / "staff.txt.j2").symlink_to(secret)
    assert main(["forms", "check", str(site)]) == 1
    out = capsys.readouterr().out
    assert "staff.txt.j2: TemplateNotFound: staff.txt.j2: a symbolic link" in out
    assert "canary-5d1e" not in out
