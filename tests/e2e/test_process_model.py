"""The process model of the three roles as real processes: each service is one process with one
worker (granian's embedded server, no launcher), the worker is one process while idle (RQ's scheduler
is a thread of it), more server processes only with ``--workers``, and each role imports only what
it needs (the import lines of ``PYTHONPROFILEIMPORTTIME``, printed by every import of the process).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import free_port
from tests.content.sites import write_files
from tests.processes import FRONTDESK, frontdesk_env, start, stop, wait_http

pytestmark = pytest.mark.e2e

IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)\s*$", re.MULTILINE)

# What no role needs: Litestar's example generation for OpenAPI (random values, and ~50 MiB).
NOBODY = {"faker", "polyfactory"}
# Per role, packages of the other roles (and of features the role does not use unconfigured).
NOT_IMPORTED = {
    "content": NOBODY
    | {"phonenumbers", "email_validator", "rq", "jinja2", "aiosmtplib", "httpx", "rich"},
    # httpx only for a CAPTCHA, which the clinic's form has not; it brings click, rich and pygments.
    "forms": NOBODY | {"markdown_it", "aiosmtplib", "httpx", "rich", "pygments"},
    "worker": NOBODY | {"litestar", "granian", "prometheus_client", "markdown_it", "httpx"},
}


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (every thread's)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def imported(log: Path) -> set[str]:
    """The top-level packages a process imported, from its ``PYTHONPROFILEIMPORTTIME`` lines."""
    return {name.split(".")[0] for name in IMPORT_LINE.findall(log.read_text())}


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout} s")


def serve(
    service: str, tmp_path: Path, settings: dict[str, str], *args: str
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """``frontdesk serve <service> <args>`` on a free port, started and ready."""
    port = free_port()
    env = frontdesk_env(
        {f"FRONTDESK_{service.upper()}_PORT": str(port), **settings, "PYTHONPROFILEIMPORTTIME": "1"}
    )
    log = tmp_path / f"{service}.log"
    process = start([FRONTDESK, "serve", service, *args], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health/ready", timeout=30)
    except AssertionError:
        stop(process)
        raise AssertionError(log.read_text()[-3000:]) from None
    return process, base, log


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("content", "/v1/pages/dry-needling-therapy-for-joint-pain"),
        ("forms", "/v1/phone/check?number=%2B1%20415%20555%202671"),
    ],
)
def test_a_service_is_one_process_that_imports_only_its_own(
    service: str, path: str, tmp_path: Path, env: dict[str, str], redis_client: redis.Redis
) -> None:
    process, base, log = serve(service, tmp_path, env)
    try:
        assert httpx.get(base + path).status_code == 200
        # The OpenAPI document, built at startup (content) or on first request (forms).
        assert httpx.get(f"{base}/schema/openapi.json").status_code == 200
        assert children(process.pid) == [], "one serving process, no launcher and no worker"
        process.send_signal(signal.SIGHUP)  # reloads (content) or is ignored: never a stop
        time.sleep(0.5)
        assert httpx.get(base + path).status_code == 200
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        stop(process)
    assert "shutdown completed" in log.read_text()
    assert imported(log) & NOT_IMPORTED[service] == set()
    assert "litestar" in imported(log)  # the import lines were read


def test_with_more_workers_the_launcher_forks_them_and_sighup_reloads_each_in_place(
    tmp_path: Path,
) -> None:
    site = write_files(tmp_path / "site", {})
    process, base, _ = serve(
        "content",
        tmp_path,
        {"FRONTDESK_SITE_DIR": str(site), "FRONTDESK_CONTENT_WATCH": "off"},
        "--workers",
        "2",
    )
    try:
        eventually(lambda: len(children(process.pid)) == 2)
        workers = sorted(children(process.pid))
        (site / "pages/home.yaml").write_text("slug: home\ntitle: Reloaded\n")

        def reloaded() -> bool:
            if all(
                httpx.get(f"{base}/v1/pages/home").json()["title"] == "Reloaded" for _ in range(10)
            ):
                return True
            # A worker whose app has not finished starting logs and ignores a SIGHUP (its startup
            # loads the site anyway, but may have read it before the edit): ask again.
            process.send_signal(signal.SIGHUP)
            return False

        # Each worker reloads (requests land on either), and none was respawned.
        eventually(reloaded)
        assert sorted(children(process.pid)) == workers
    finally:
        stop(process)


def test_the_worker_is_one_process_with_its_scheduler_in_it(
    tmp_path: Path, env: dict[str, str], redis_client: redis.Redis
) -> None:
    log = tmp_path / "worker.log"
    worker_env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    process = start([FRONTDESK, "worker"], worker_env, log, new_session=True)
    try:
        eventually(lambda: bool(redis_client.smembers("rq:workers:frontdesk")), 30)
        lock = "rq:scheduler-lock:frontdesk"
        eventually(lambda: redis_client.get(lock) is not None)
        [scheduler] = [
            redis_client.hgetall(key) for key in redis_client.scan_iter("rq:scheduler:*")
        ]
        assert int(scheduler[b"pid"]) == process.pid, "the scheduler runs in the worker's process"
        assert children(process.pid) == [], "an idle worker has no child: no scheduler process"
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=40) == 0  # a warm shutdown; slow only on a loaded machine
    finally:
        stop(process, group=True)
    assert redis_client.get(lock) is None, "the scheduler released its lock at the stop"
    assert imported(log) & NOT_IMPORTED["worker"] == set()
    assert "rq" in imported(log)
