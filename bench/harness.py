"""Benchmark plumbing shared by bench/*.py: servers pinned to one core, wrk pinned to the other.

Every figure is measured against a baseline in the same run; results go to bench/results/*.json with
the date, the core count and the CPU model.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
REPORT_LUA = (ROOT / "bench" / "lua" / "report.lua").read_text()
BIN = ROOT / ".venv" / "bin"
SERVER_CPU, LOAD_CPU = "0", "1"


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers 2xx; raises RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextmanager
def process(argv: list[str], env: dict[str, str], cpu: str | None = SERVER_CPU) -> Iterator[int]:
    """Run ``argv`` (pinned to ``cpu`` with taskset) for the block; yields its pid."""
    full = (["taskset", "-c", cpu] if cpu and shutil.which("taskset") else []) + argv
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(full, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            if proc.returncode not in (0, -15, None):
                log.seek(0)
                print(log.read().decode(errors="replace")[-2000:])


def base_env(**overrides: str) -> dict[str, str]:
    """The environment for Frontdesk processes: no inherited FRONTDESK_*, then ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env["FRONTDESK_RATE_LIMITS"] = "off"
    env["FRONTDESK_LOG_LEVEL"] = "WARNING"
    env.update(overrides)
    return env


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children in MiB (from /proc)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def wrk(
    url: str,
    *,
    seconds: int = 10,
    connections: int = 32,
    script: str = "",
    headers: dict[str, str] | None = None,
    cpu: str = LOAD_CPU,
) -> dict[str, Any]:
    """Drive ``url`` with wrk (one thread, pinned to ``cpu``) and return its figures.

    ``script`` is extra wrk Lua (request/delay functions). Returns ``requests_per_second``,
    ``p50_ms``, ``p90_ms``, ``p99_ms``, ``requests`` and ``errors``.
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script + "\n" + REPORT_LUA)
    argv = ["taskset", "-c", cpu, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", lua.name]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    os.unlink(lua.name)
    figures = json.loads(out.strip().splitlines()[-1])
    seconds_run = figures["duration_us"] / 1e6
    return {
        "requests_per_second": round(figures["requests"] / seconds_run, 1),
        "p50_ms": figures["p50_us"] / 1000,
        "p90_ms": figures["p90_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "requests": figures["requests"],
        "errors": figures["errors"],
    }


def meta() -> dict[str, Any]:
    """Where and when a result was measured."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
    }


def write_result(name: str, figures: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with :func:`meta` and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"meta": meta(), **figures}, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path
