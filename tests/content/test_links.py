"""Links in the site directory: an editor's symbolic link never makes the content service read or
serve a file outside the site (``/proc/self/environ`` served every secret of the pod)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from frontdesk.cli import main
from frontdesk.settings import Settings
from services.content.loader import load_site
from services.content.snapshot import Snapshot
from tests.content.conftest import ClientFactory

CANARY = "FRONTDESK_SECRET_KEY=canary-7f3a9c"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A secret outside the site directory, and a folder holding one."""
    secret = tmp_path / "environ"
    secret.write_text(CANARY)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(CANARY)
    return tmp_path


@pytest.mark.usefixtures("env")
def test_content_check_refuses_links(
    capsys: pytest.CaptureFixture[str], site_dir: Path, outside: Path
) -> None:
    (site_dir / "assets" / "environ").symlink_to(outside / "environ")
    (site_dir / "assets" / "etc").symlink_to(outside / "etc", target_is_directory=True)
    (site_dir / "assets" / "proc").symlink_to("/proc/self/environ")
    code = main(["content", "check", str(site_dir)])
    out = capsys.readouterr().out
    assert code == 1
    for name in ("assets/environ", "assets/etc", "assets/proc"):
        assert f"{name}: $: a symbolic link" in out
    assert CANARY not in out


def test_linked_asset_is_never_served(
    make_client: ClientFactory, site_dir: Path, outside: Path
) -> None:
    (site_dir / "assets" / "environ").symlink_to(outside / "environ")
    (site_dir / "assets" / "etc").symlink_to(outside / "etc", target_is_directory=True)
    client = make_client()
    for path in ("/assets/environ", "/assets/etc/passwd"):
        response = client.get(path)
        assert response.status_code in (404, 503), response.text
        assert CANARY not in response.text


def test_asset_swapped_for_a_link_after_loading_is_not_read(
    settings: Settings, site_dir: Path, outside: Path
) -> None:
    """A link made between the check and the build (the watcher's debounce) is still refused: the
    build opens asset files without following links and inside ``assets/`` only, and fails (the
    holder keeps serving the last good build)."""
    site = load_site(site_dir)
    os.unlink(site_dir / "assets" / "ana.jpg")
    (site_dir / "assets" / "ana.jpg").symlink_to(outside / "environ")
    with pytest.raises(OSError, match=r"ana\.jpg"):
        Snapshot(site, settings, dt.datetime.now(dt.UTC))
