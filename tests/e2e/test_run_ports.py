"""``make run`` on ports other than the defaults: the example site it serves names the APIs at the
ports chosen, the page answer's form section points at the forms port chosen, and the banner does
not send staff to an SMTP catcher that is not running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import msgspec
import pytest
import redis

from frontdesk.settings import PREFIX, Settings
from tests.conftest import ROOT, TEST_REDIS_URL, free_port
from tests.processes import frontdesk_env

pytestmark = pytest.mark.e2e


def _get(url: str, log: Path, process: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make run exited {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.get(url, timeout=2)
            if answer.status_code == 200:
                return answer
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer:\n{log.read_text()[-3000:]}")


def test_the_example_site_names_the_ports_chosen(redis_client: redis.Redis, tmp_path: Path) -> None:
    env = frontdesk_env({"FRONTDESK_REDIS_URL": TEST_REDIS_URL})
    for field in msgspec.structs.fields(Settings):
        if field.name.endswith("_port"):
            env[PREFIX + field.name.upper()] = str(free_port())
    env["FRONTDESK_SITE_PORT"] = str(free_port())
    content, forms = env["FRONTDESK_CONTENT_PORT"], env["FRONTDESK_FORMS_PORT"]
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "run")],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        page = _get(f"http://127.0.0.1:{env['FRONTDESK_SITE_PORT']}/index.html", log, process)
        answer = _get(
            f"http://127.0.0.1:{content}/v1/pages/dry-needling-therapy-for-joint-pain", log, process
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert f"http://127.0.0.1:{content}" in page.text
    assert "127.0.0.1:8001" not in page.text
    assert "127.0.0.1:8002" not in page.text
    assert f"http://127.0.0.1:{forms}/v1/forms/contact/submissions" in answer.text
    banner = log.read_text()
    assert "no local catcher runs" in banner
    assert "SMTP catcher on 127.0.0.1:1025" not in banner
