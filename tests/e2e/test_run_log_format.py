"""``scripts/run`` (what ``make run`` starts after ``uv sync``) on a terminal writes the short text
log format; with its output going elsewhere (a file, a pipe, a container's log), JSON lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Callable

import msgspec
import pytest
import redis

from frontdesk.settings import PREFIX, Settings
from tests.conftest import ROOT, TEST_REDIS_URL, free_port
from tests.processes import frontdesk_env

pytestmark = pytest.mark.e2e

# honcho's own prefix ("19:04:05 forms.1 | "), colours included on a terminal, then the line.
_PREFIX = re.compile(r"^.*?\b(content|forms|inbox|worker)\.1\s*\| ?")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TEXT = re.compile(
    r"\d\d:\d\d:\d\d (content|forms|inbox|worker) (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S"
)


ROLES = ("content", "forms", "inbox", "worker")


def _env() -> dict[str, str]:
    """Every port of the stack free, the test database (it answers, so no redis-server is started)
    and an SMTP port that is not the default (so no SMTP catcher is started either)."""
    env = frontdesk_env({"FRONTDESK_REDIS_URL": TEST_REDIS_URL})
    for field in msgspec.structs.fields(Settings):
        if field.name.endswith("_port"):
            env[PREFIX + field.name.upper()] = str(free_port())
    env["FRONTDESK_SITE_PORT"] = str(free_port())
    return env


def _run_until(
    read: Callable[[], bytes], process: subprocess.Popen[bytes], wanted: Callable[[str], bool]
) -> list[tuple[str, str]]:
    """``(process, line)`` of the services' lines (honcho's prefix and colours removed) until each
    of content, forms, inbox and worker wrote a ``wanted`` line, or 25 s pass; then the stack is
    stopped like Ctrl-C does (SIGINT to its process group). Lines of no process (the script's
    banner) come as ``("", line)``."""
    seen: list[tuple[str, str]] = []
    roles: set[str] = set()
    pending = b""
    deadline = time.monotonic() + 25
    try:
        while time.monotonic() < deadline and process.poll() is None:
            chunk = read()
            if not chunk:
                continue
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                line = _ANSI.sub("", raw.decode(errors="replace")).rstrip("\r")
                prefix = _PREFIX.match(line)
                if prefix is None:
                    seen.append(("", line))
                    continue
                seen.append((prefix.group(1), line[prefix.end() :]))
                if wanted(seen[-1][1]):
                    roles.add(seen[-1][0])
                if roles == set(ROLES):
                    return seen
        return seen
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _is_json(line: str) -> bool:
    try:
        parsed = json.loads(line)
    except ValueError:
        return False
    return isinstance(parsed, dict) and {"time", "level", "message"} <= parsed.keys()


def test_on_a_terminal_the_logs_are_text(redis_client: redis.Redis) -> None:
    main, replica = os.openpty()
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "run")],
        cwd=ROOT,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=replica,
        stderr=replica,
        start_new_session=True,
    )
    os.close(replica)

    def read() -> bytes:
        if not select.select([main], [], [], 0.2)[0]:
            return b""
        try:
            return os.read(main, 65536)
        except OSError:  # EIO: every writer of the terminal has gone
            return b""

    try:
        seen = _run_until(read, process, lambda line: bool(_TEXT.match(line)))
    finally:
        os.close(main)
    for role in ROLES:
        assert any(name == role and _TEXT.match(line) for name, line in seen), seen
    assert not any(_is_json(line) for _, line in seen), seen


def test_without_a_terminal_the_logs_are_json(redis_client: redis.Redis) -> None:
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "run")],
        cwd=ROOT,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    output = process.stdout.fileno()

    def read() -> bytes:
        if not select.select([output], [], [], 0.2)[0]:
            return b""
        return os.read(output, 65536)

    seen = _run_until(read, process, _is_json)
    for role in ROLES:
        assert any(name == role and _is_json(line) for name, line in seen), seen
    assert not any(_TEXT.match(line) for _, line in seen), seen
    # The banner says where the inbox is and how to sign in locally.
    banner = "\n".join(line for name, line in seen if name == "")
    assert re.search(r"staff inbox +http://127\.0\.0\.1:\d+/sign-in", banner), banner
    assert "sign in as frontdesk@clinic.example" in banner, banner
