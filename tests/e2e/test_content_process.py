"""``frontdesk serve content`` as a real process: SIGHUP reloads in place, a bad reload keeps the
last good site, and readiness reports it."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.content.sites import write_files
from tests.processes import FRONTDESK, frontdesk_env, start, stop, wait_http

pytestmark = pytest.mark.e2e


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
def content(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path, str]]:
    site = write_files(tmp_path / "site", {})
    port = free_port()
    env = frontdesk_env(
        {
            "FRONTDESK_SITE_DIR": str(site),
            "FRONTDESK_CONTENT_PORT": str(port),
            "FRONTDESK_CONTENT_WATCH": "off",  # only SIGHUP reloads in this test
        }
    )
    process = start([FRONTDESK, "serve", "content"], env, tmp_path / "content.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health/ready", timeout=20)
        yield process, base, site, f"http://127.0.0.1:{env['FRONTDESK_CONTENT_INTERNAL_PORT']}"
    finally:
        stop(process)


def test_sighup_reloads_and_a_bad_reload_keeps_the_last_good_site(
    content: tuple[subprocess.Popen[bytes], str, Path, str],
) -> None:
    process, base, site, internal = content
    assert httpx.get(f"{base}/v1/pages/home").json()["title"] == "Home"

    (site / "pages/home.yaml").write_text("slug: home\ntitle: Reloaded\n")
    process.send_signal(signal.SIGHUP)
    eventually(lambda: httpx.get(f"{base}/v1/pages/home").json()["title"] == "Reloaded")

    (site / "pages/home.yaml").write_text("slug: home\ntitle: [broken\n")
    process.send_signal(signal.SIGHUP)
    # The problems are on the internal port (same process, same site holder); publicly: ok.
    eventually(lambda: httpx.get(f"{internal}/health/ready").json()["status"] == "degraded")
    assert httpx.get(f"{base}/health/ready").json() == {"status": "ok"}
    ready = httpx.get(f"{internal}/health/ready")
    assert ready.status_code == 200
    [error] = ready.json()["errors"]
    assert (error["file"], error["path"]) == ("pages/home.yaml", "$")
    assert httpx.get(f"{base}/v1/pages/home").json()["title"] == "Reloaded"
    assert process.poll() is None
