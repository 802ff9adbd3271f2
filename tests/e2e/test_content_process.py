"""``frontdesk serve content`` as a real process: SIGHUP reloads in place, a bad reload keeps the
last good site, and readiness reports it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port
from tests.content.sites import write_files

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def eventually(check, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture
def content(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    site = write_files(tmp_path / "site", {})
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env |= {
        "FRONTDESK_SITE_DIR": str(site),
        "FRONTDESK_CONTENT_PORT": str(port),
        "FRONTDESK_CONTENT_WATCH": "off",  # only SIGHUP reloads in this test
    }
    log = (tmp_path / "content.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "frontdesk"), "serve", "content"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: httpx.get(f"{base}/health/ready", timeout=1).status_code == 200)
        yield process, base, site
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_sighup_reloads_and_a_bad_reload_keeps_the_last_good_site(
    content: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, base, site = content
    assert httpx.get(f"{base}/v1/pages/home").json()["title"] == "Home"

    (site / "pages/home.yaml").write_text("slug: home\ntitle: Reloaded\n")
    process.send_signal(signal.SIGHUP)
    eventually(lambda: httpx.get(f"{base}/v1/pages/home").json()["title"] == "Reloaded")

    (site / "pages/home.yaml").write_text("slug: home\ntitle: [broken\n")
    process.send_signal(signal.SIGHUP)
    eventually(lambda: httpx.get(f"{base}/health/ready").json()["status"] == "degraded")
    ready = httpx.get(f"{base}/health/ready")
    assert ready.status_code == 200
    [error] = ready.json()["errors"]
    assert (error["file"], error["path"]) == ("pages/home.yaml", "$")
    assert httpx.get(f"{base}/v1/pages/home").json()["title"] == "Reloaded"
    assert process.poll() is None
