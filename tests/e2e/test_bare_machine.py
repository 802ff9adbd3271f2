"""The README's two commands in a fresh clone on a bare machine: only the system's directories on
``PATH`` (so no uv, no pyenv, no project venv), Debian's ``python3`` with its venv module, a fresh
``HOME``.

``make run`` must install a pinned, hash-checked uv into ``.tools/``, build ``.venv/`` from the lock
with the system's Python (never a downloaded one) and serve the clinic page and the static site;
``make test`` must get as far as pytest starting (lint and type checks included; pytest only collects
one file here, the full run is what CI's own ``make test`` is).

The clone is of the committed ``HEAD``: uncommitted changes are not in it. The rest of the
environment is the machine's (a proxy's CA bundle, say), less anything that points at a developer's
tools. Downloads: with a fresh ``HOME`` uv fetches every wheel again; when ``UV_CACHE_DIR`` is set,
that cache is shared (it only saves downloads: every wheel is still checked against the lock's
hashes, and the venv is still built from nothing).
"""

from __future__ import annotations

import contextlib
import os
import shutil
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

pytestmark = pytest.mark.e2e

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SLUG = "dry-needling-therapy-for-joint-pain"
# Names of variables that point at a developer's tools or settings: none reaches the bare machine.
DROPPED_PREFIXES = (
    "FRONTDESK_",
    "UV_",
    "PYENV",
    "VIRTUAL_ENV",
    "CONDA",
    "PYTHON",
    "PIP_USER",
    "XDG_",
)
# Downloading and building everything can take minutes on a cold cache and a busy machine.
START_TIMEOUT = 900.0


def bare_env(home: Path) -> dict[str, str]:
    """The machine's environment with the system ``PATH``, a fresh ``HOME``, no developer tools."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_PREFIXES)}
    env.update(PATH=SYSTEM_PATH, HOME=str(home), LANG="C.UTF-8")
    if cache := os.environ.get("UV_CACHE_DIR"):
        env["UV_CACHE_DIR"] = cache
    return env


def fresh_clone(target: Path) -> Path:
    """A clone of the repository's committed HEAD at ``target``."""
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "--quiet", head], check=True)
    return target


def tail(log: Path, lines: int = 60) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C for the whole stack (SIGINT to its process group), SIGKILL after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until_served(process: subprocess.Popen[bytes], url: str, log: Path) -> httpx.Response:
    """Poll ``url`` until it answers 200; fail with the log's tail if ``make run`` exits or the time
    runs out."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make run exited {process.returncode}:\n{tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        time.sleep(0.5)
    pytest.fail(f"{url} not served within {START_TIMEOUT} s:\n{tail(log)}")


@pytest.mark.timeout(int(START_TIMEOUT) + 600)
def test_make_run_and_make_test_on_a_bare_machine(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    python3 = shutil.which("python3", path=SYSTEM_PATH)
    assert python3, "no python3 in the system's directories (apt-get install python3)"
    venv_check = subprocess.run(
        [python3, "-c", "import venv, ensurepip"], capture_output=True, check=False
    )
    assert venv_check.returncode == 0, "python3 lacks venv/ensurepip: apt-get install python3-venv"
    assert shutil.which("uv", path=SYSTEM_PATH) is None, (
        "a uv in the system's directories: this machine is not bare enough to test the install"
    )
    assert shutil.which("make", path=SYSTEM_PATH), "apt-get install make"

    clone = fresh_clone(tmp_path / "frontdesk")
    home = tmp_path / "home"
    home.mkdir()
    env = bare_env(home)
    # Its own database (the test one, flushed by the fixture) and ports; an SMTP port that is not
    # the default, so no catcher is started on 1025 (another stack may hold it).
    env["FRONTDESK_REDIS_URL"] = TEST_REDIS_URL
    for field in msgspec.structs.fields(Settings):
        if field.name.endswith("_port"):
            env[PREFIX + field.name.upper()] = str(free_port())
    env["FRONTDESK_SITE_PORT"] = str(free_port())
    content = f"http://127.0.0.1:{env['FRONTDESK_CONTENT_PORT']}"
    site = f"http://127.0.0.1:{env['FRONTDESK_SITE_PORT']}"

    run_log = tmp_path / "make-run.log"
    with run_log.open("wb") as output:
        process = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        page = wait_until_served(process, f"{content}/v1/pages/{SLUG}", run_log).json()
        assert page["slug"] == SLUG
        assert len(page["sections"]) == 14
        # The example site: the page that renders the clinic page from the content API in a browser.
        index = wait_until_served(process, f"{site}/", run_log)
        assert index.headers["content-type"].startswith("text/html")
        assert "/v1/pages/" in index.text
    finally:
        stop_group(process)

    # The pinned uv was installed and used; the venv runs the system's Python.
    assert (clone / ".tools" / "bin" / "uv").is_file(), tail(run_log)
    version = subprocess.run(
        [str(clone / ".tools" / "bin" / "uv"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pinned = (ROOT / "scripts" / "uv-requirements.txt").read_text()
    assert f"uv=={version.split()[1]} " in pinned, version
    venv_config = (clone / ".venv" / "pyvenv.cfg").read_text()
    assert f"home = {Path(python3).resolve().parent}" in venv_config, venv_config
    assert not (home / ".local" / "share" / "uv" / "python").exists()

    test_log = tmp_path / "make-test.log"
    with test_log.open("wb") as output:
        finished = subprocess.run(
            ["make", "test", "PYTEST_ARGS=--collect-only tests/unit/test_settings.py"],
            cwd=clone,
            env={**env, "FRONTDESK_TEST_REDIS_URL": TEST_REDIS_URL},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=600,
            check=False,
        )
    text = test_log.read_text(errors="replace")
    assert finished.returncode == 0, tail(test_log)
    assert "All checks passed!" in text  # ruff
    assert "Success: no issues found" in text  # mypy
    assert "test session starts" in text  # pytest's header
    assert "collected" in text
