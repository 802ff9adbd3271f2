"""docker-compose.yml's healthcheck commands, run as written against the real processes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis
import yaml

from tests.conftest import ROOT, free_port
from tests.e2e.test_stack import Stack
from tests.processes import FRONTDESK, PYTHON, wait_http

pytestmark = pytest.mark.e2e


def healthcheck(service: str, port: int) -> list[str]:
    """The service's compose healthcheck, with the image's ``python`` and the test's internal
    port (probes use the internal port)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    kind, program, *args = compose["services"][service]["healthcheck"]["test"]
    assert (kind, program) == ("CMD", "python")
    default = "9001" if service == "content" else "9002"
    assert any(f":{default}/" in a for a in args)
    return [PYTHON, *(a.replace(f":{default}/", f":{port}/") for a in args)]


def test_healthchecks_pass_on_ready_services(tmp_path: Path, redis_client: redis.Redis) -> None:
    stack = Stack(tmp_path)
    try:
        stack.start("content", FRONTDESK, "serve", "content")
        stack.start("forms", FRONTDESK, "serve", "forms")
        wait_http(f"http://127.0.0.1:{stack.content_port}/health/live", any_status=True)
        wait_http(f"http://127.0.0.1:{stack.forms_port}/health/live", any_status=True)
        internal = (
            ("content", stack.content_internal_port),
            ("forms", stack.forms_internal_port),
        )
        for service, port in internal:
            result = subprocess.run(healthcheck(service, port), capture_output=True, timeout=10)
            assert result.returncode == 0, result.stderr
    finally:
        stack.down()


def test_forms_healthcheck_fails_without_redis(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    stack.env["FRONTDESK_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens
    try:
        stack.start("forms", FRONTDESK, "serve", "forms")
        wait_http(f"http://127.0.0.1:{stack.forms_port}/health/live", any_status=True)
        result = subprocess.run(
            healthcheck("forms", stack.forms_internal_port),
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert result.returncode != 0
        assert "503" in result.stderr
    finally:
        stack.down()
