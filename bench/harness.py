"""Benchmark plumbing shared by every bench/*.py: the one way to start a pinned server, wait for it,
drive it with wrk, measure its memory and write a result.

- Servers (the Frontdesk services and the baselines) run pinned to core 0 with ``taskset``; wrk runs
  with one thread pinned to core 1, and so does each benchmark's private ``redis-server`` (AOF,
  ``appendfsync always``: the production durability, and no shared database to flush).
- wrk reports through bench/lua/report.lua's ``done()`` as one JSON line (no parsing of its text).
- ``BENCH_SECONDS`` scales every wrk run (default: each benchmark's own), for quick iterations.
- Each result is ``bench/results/<name>.json``: ``meta`` (date, cores, CPU, load average), the
  ``comparisons`` list that bench/summary.py tabulates, then the benchmark's detailed figures.

Run one benchmark from the repository root with ``.venv/bin/python -m bench.<name>``.
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
CLINIC = ROOT / "examples" / "clinic-site"
SERVER_CPU, LOAD_CPU = "0", "1"


def seconds(default: int) -> int:
    """Length of one wrk run: ``BENCH_SECONDS`` when set, else the benchmark's ``default``."""
    return int(os.environ.get("BENCH_SECONDS", default))


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
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


def base_env(**overrides: str) -> dict[str, str]:
    """The environment for benchmarked processes: no inherited FRONTDESK_*, rate limits off,
    warnings only, the repository on PYTHONPATH (for ``bench.*`` baselines), then ``overrides``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env["FRONTDESK_RATE_LIMITS"] = "off"
    env["FRONTDESK_LOG_LEVEL"] = "WARNING"
    env["PYTHONPATH"] = str(ROOT)
    # The services' internal ports (metrics, health detail): free ones, not 9001/9002 that another
    # stack on this machine may hold.
    env["FRONTDESK_CONTENT_INTERNAL_PORT"] = str(free_port())
    env["FRONTDESK_FORMS_INTERNAL_PORT"] = str(free_port())
    env.update(overrides)
    return env


@contextmanager
def process(
    argv: list[str], env: dict[str, str], cpu: str | None = SERVER_CPU
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` pinned to ``cpu`` (``taskset`` execs, so the pid is the program's) for the
    block, then SIGTERM it (SIGKILL after 15 s); its output is printed if it failed.
    """
    full = (["taskset", "-c", cpu] if cpu else []) + argv
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(full, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.returncode not in (0, -15):
                log.seek(0)
                print(f"{argv[0]} exited {proc.returncode}:")
                print(log.read().decode(errors="replace")[-2000:])


def frontdesk(*args: str) -> list[str]:
    """The command line of ``frontdesk <args>`` (``serve content``, ``worker --burst``...)."""
    return [str(BIN / "frontdesk"), *args]


def granian(target: str, port: int) -> list[str]:
    """A bare ASGI app factory (a baseline) under granian with ``frontdesk serve``'s settings:
    one worker, no access log."""
    return [
        str(BIN / "granian"),
        "--interface",
        "asgi",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        target,
    ]


@contextmanager
def serving(argv: list[str], env: dict[str, str], ready_url: str) -> Iterator[int]:
    """:func:`process` for a server, once ``ready_url`` answers; yields its pid."""
    with process(argv, env) as proc:
        wait_http(ready_url)
        yield proc.pid


@contextmanager
def redis_server(cpu: str = LOAD_CPU) -> Iterator[str]:
    """A private ``redis-server`` (AOF, ``appendfsync always``, temporary directory and port)
    pinned to ``cpu`` for the block; yields its URL (database 0)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp]
        argv += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        with process(argv, os.environ.copy(), cpu=cpu):
            url = f"redis://127.0.0.1:{port}/0"
            deadline = time.monotonic() + 10
            while (
                subprocess.run(
                    ["redis-cli", "-p", str(port), "ping"], capture_output=True, check=False
                ).stdout.strip()
                != b"PONG"
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
            yield url


@contextmanager
def smtp_sink(env: dict[str, str], cpu: str = LOAD_CPU) -> Iterator[int]:
    """An aiosmtpd server that accepts and drops every message, pinned to ``cpu``; yields its port."""
    port = free_port()
    argv = [str(BIN / "python"), "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"]
    with process([*argv, "-c", "aiosmtpd.handlers.Sink"], env, cpu=cpu):
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (granian's workers) in MiB."""
    total, todo = 0, [pid]
    while todo:
        one = todo.pop()
        try:
            for task in Path(f"/proc/{one}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def wrk(
    url: str,
    *,
    duration: int,
    connections: int = 32,
    script: str = "",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Drive ``url`` with wrk (one thread, pinned to the load core) for ``duration`` seconds.

    ``script`` is extra wrk Lua (request/delay functions). Returns ``requests_per_second``,
    ``p50_ms``, ``p90_ms``, ``p99_ms``, ``requests``, ``non_2xx_3xx`` and socket ``errors``.
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script + "\n" + REPORT_LUA)
        lua.flush()
        argv = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{duration}s"]
        for name, value in (headers or {}).items():
            argv += ["-H", f"{name}: {value}"]
        out = subprocess.run(
            [*argv, "-s", lua.name, url], capture_output=True, text=True, check=True
        )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    errors = figures["errors"]
    return {
        "requests_per_second": round(figures["requests"] / (figures["duration_us"] / 1e6), 1),
        "p50_ms": figures["p50_us"] / 1000,
        "p90_ms": figures["p90_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "requests": figures["requests"],
        "non_2xx_3xx": errors.pop("status"),
        "errors": errors,
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median requests/s (its latencies kept with it), plus every run's req/s."""
    ordered = sorted(runs, key=lambda r: r["requests_per_second"])
    return {
        **ordered[len(ordered) // 2],
        "runs_requests_per_second": [r["requests_per_second"] for r in runs],
    }


def comparison(
    name: str,
    value: float,
    baseline: float,
    baseline_name: str,
    unit: str,
    *,
    target: float | None = None,
    lower_is_better: bool = False,
) -> dict[str, Any]:
    """One row of bench/results/summary.md: ``ratio`` is value / baseline; ``target`` (the one the
    docs state) is a minimum ratio, or a maximum one when ``lower_is_better``."""
    row: dict[str, Any] = {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_name": baseline_name,
        "ratio": round(value / baseline, 3) if baseline else None,
    }
    if target is not None:
        row["target"] = target
    if lower_is_better:
        row["lower_is_better"] = True
    return row


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
        "load_average_1min": round(os.getloadavg()[0], 2),
        "pinning": f"servers on core {SERVER_CPU}; wrk, redis-server and SMTP sink on core {LOAD_CPU}",
    }


def write_result(
    name: str, comparisons: list[dict[str, Any]], details: dict[str, Any], started: dict[str, Any]
) -> Path:
    """Write ``bench/results/<name>.json``: ``meta`` (``started`` is :func:`meta` taken before the
    run, so the load average is the one the run met), ``comparisons``, then ``details``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {"meta": started, "comparisons": comparisons, **details}
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(comparisons, indent=2))
    print(f"wrote {path.relative_to(ROOT)}")
    return path
