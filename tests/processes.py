"""Real processes for the end-to-end, browser, hostile and drill tests: the environment they start
with, starting one with its output in a log file, waiting for its HTTP port, stopping it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT, free_port

BIN = Path(sys.executable).parent
FRONTDESK = str(BIN / "frontdesk")
PYTHON = str(BIN / "python")


def frontdesk_env(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without any ``FRONTDESK_*`` variable, plus ``settings``: a child
    process sees only the settings its test gives it. The services' internal ports are free ports
    unless ``settings`` names them (the defaults would clash between tests run side by side)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env["FRONTDESK_CONTENT_INTERNAL_PORT"] = str(free_port())
    env["FRONTDESK_FORMS_INTERNAL_PORT"] = str(free_port())
    env.update(settings)
    return env


def wait_http(url: str, timeout: float = 30.0, any_status: bool = False) -> None:
    """Poll ``url`` until it answers 200 (any status with ``any_status``).

    Raises ``AssertionError`` after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=1)
        except httpx.HTTPError:
            response = None
        if response is not None and (any_status or response.status_code == 200):
            return
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up in {timeout} s")


def start(
    argv: list[str], env: dict[str, str], log: Path, new_session: bool = False
) -> subprocess.Popen[bytes]:
    """``argv`` started in the project root with ``env``, stdout and stderr appended to ``log``;
    ``new_session`` puts it in its own process group (a worker and its forked work horse)."""
    with log.open("ab") as output:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0, group: bool = False) -> None:
    """SIGTERM ``process`` (its whole process group with ``group``), SIGKILL after ``timeout`` s."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal.SIGTERM)
            else:
                process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.wait()


class Processes:
    """Processes started for one test or module, each logging to ``logs/<name>.log``, stopped
    together."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` as ``name`` (its log: ``logs/<name>.log``)."""
        process = start(argv, env, self.logs / f"{name}.log")
        self.running.append(process)
        return process

    def stop(self) -> None:
        """SIGTERM every process started, then wait for each (SIGKILL after 10 s)."""
        for process in self.running:
            if process.poll() is None:
                process.terminate()
        for process in self.running:
            stop(process)
