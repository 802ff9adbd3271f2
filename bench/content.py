"""Content service benchmark: ``make bench`` (or ``.venv/bin/python bench/content.py``).

Serves the clinic site with ``frontdesk serve content`` (granian, production settings) and, in the
same run with the same load generator, a bare Litestar app on granian answering a constant JSON body
of the page's size. Server on core 0, wrk on core 1 (``taskset``). Then loads a generated site of
5,000 items and 500 pages: load time (load + build of every body) and resident memory of the
serving process. Writes ``bench/results/content.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLINIC = ROOT / "examples" / "clinic-site"
PAGE = "/v1/pages/dry-needling-therapy-for-joint-pain"
RESULTS = ROOT / "bench" / "results" / "content.json"
DURATION = os.environ.get("BENCH_DURATION", "5s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "32")
SERVER_CPU, LOAD_CPU = "0", "1"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready in {timeout} s")


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, *argv],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, headers: dict[str, str]) -> dict[str, float]:
    """One wrk run on the load core: requests/s, p50 and p99 latency (ms), non-2xx/3xx count."""
    argv = [
        "taskset",
        "-c",
        LOAD_CPU,
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{DURATION}",
        "--latency",
    ]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "requests_per_s": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx_3xx": int(errors.group(1)) if errors else 0,
    }


def base_env(site: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env |= {"FRONTDESK_SITE_DIR": str(site), "FRONTDESK_CONTENT_PORT": str(port)}
    env["FRONTDESK_LOG_LEVEL"] = "WARNING"
    return env


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median requests/s (its own latencies kept together)."""
    ordered = sorted(runs, key=lambda r: r["requests_per_s"])
    middle = dict(ordered[len(ordered) // 2])
    middle["runs_requests_per_s"] = [r["requests_per_s"] for r in runs]  # type: ignore[assignment]
    return middle


def http_benchmarks(tmp: Path) -> dict[str, object]:
    """Both servers up at once (core 0, only one under load at a time); ROUNDS interleaved rounds
    of every case so that the shared machine's noise hits all cases alike; medians reported.
    """
    identity = {"Accept-Encoding": "identity"}
    port = free_port()
    content = start(
        [str(BIN / "frontdesk"), "serve", "content"], base_env(CLINIC, port), tmp / "c.log"
    )
    base = f"http://127.0.0.1:{port}"
    baseline: subprocess.Popen[bytes] | None = None
    try:
        wait_ready(f"{base}/health/ready")
        page = httpx.get(base + PAGE, headers=identity)
        body_file = tmp / "page.json"
        body_file.write_bytes(page.content)
        etag = page.headers["etag"]
        baseline_port = free_port()
        env = base_env(CLINIC, baseline_port) | {"BENCH_BODY_FILE": str(body_file)}
        baseline = start(
            [
                str(BIN / "granian"),
                "--interface",
                "asgi",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(baseline_port),
                "--log-level",
                "warning",
                "bench.baseline_app:app_factory",
            ],
            env,
            tmp / "b.log",
        )
        baseline_url = f"http://127.0.0.1:{baseline_port}/page"
        wait_ready(baseline_url)
        cases = {
            "baseline": (baseline_url, identity),
            "page_200": (base + PAGE, identity),
            "page_304": (base + PAGE, {**identity, "If-None-Match": etag}),
            "collection_list": (base + "/v1/collections/therapies/items", identity),
        }
        for url, headers in cases.values():  # warm-up
            wrk(url, headers)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
        for _ in range(ROUNDS):
            for name, (url, headers) in cases.items():
                runs[name].append(wrk(url, headers))
    finally:
        stop(content)
        if baseline is not None:
            stop(baseline)
    results = {name: _median_run(each) for name, each in runs.items()}
    baseline_rps = results["baseline"]["requests_per_s"]
    return {
        "body_bytes": len(page.content),
        "results": results,
        "ratios": {
            name: round(results[name]["requests_per_s"] / baseline_rps, 3)
            for name in ("page_200", "page_304", "collection_list")
        },
    }


def generate_site(root: Path, pages: int = 500, items: int = 5000) -> None:
    """A site of ``pages`` pages and ``items`` items over five collections."""
    shutil.copy(CLINIC / "site.yaml", root / "site.yaml")
    names = ["faqs", "therapies", "symptoms", "conditions", "treatments", "professionals", "posts"]
    per = items // len(names) + 1
    count = 0
    for name in names:
        folder = root / "collections" / name
        folder.mkdir(parents=True)
        for i in range(per):
            if count == items:
                break
            count += 1
            text = f"Paragraph {i} about {name}. " * 20
            if name == "faqs":
                doc = {"question": f"Question {i}?", "answer": text, "tags": ["t1"]}
            elif name == "professionals":
                doc = {"name": f"Person {i}", "role": "Therapist", "bio": text}
            elif name == "posts":
                doc = {"title": f"Post {i}", "date": "2026-01-01", "body": text, "tags": ["t2"]}
            else:
                doc = {"title": f"{name} {i}", "summary": "Summary.", "body": text, "tags": ["t1"]}
            (folder / f"{name}-{i}.yaml").write_text(json.dumps(doc))
    template = (CLINIC / "pages" / "dry-needling-therapy-for-joint-pain.yaml").read_text()
    (root / "pages").mkdir()
    for i in range(pages):
        text = template.replace(
            "slug: dry-needling-therapy-for-joint-pain", f"slug: page-{i}"
        ).replace("query: {}", "query: {limit: 6}")
        (root / "pages" / f"page-{i}.yaml").write_text(text)
    shutil.copytree(CLINIC / "forms", root / "forms")


LOAD_SCRIPT = """
import datetime as dt, json, resource, sys, time
from pathlib import Path
from frontdesk.settings import Settings
from services.content.loader import load_site
from services.content.snapshot import Snapshot
start = time.perf_counter()
site = load_site(Path(sys.argv[1]))
loaded = time.perf_counter()
snapshot = Snapshot(site, Settings(site_dir=Path(sys.argv[1])), dt.datetime.now(dt.UTC))
built = time.perf_counter()
print(json.dumps({"load_s": loaded - start, "build_s": built - loaded, "total_s": built - start,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` and its children (granian's workers), in MiB."""
    total = 0
    pids = [pid]
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    pids += [int(p) for p in children.split()]
    for each in pids:
        status = Path(f"/proc/{each}/status").read_text()
        total += int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
    return total / 1024


def large_site(tmp: Path) -> dict[str, object]:
    root = tmp / "large"
    root.mkdir()
    generate_site(root)
    out = subprocess.run(
        ["taskset", "-c", SERVER_CPU, sys.executable, "-c", LOAD_SCRIPT, str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    in_process = json.loads(out)
    port = free_port()
    env = base_env(root, port) | {"FRONTDESK_CONTENT_WATCH": "on"}
    started = time.perf_counter()
    server = start([str(BIN / "frontdesk"), "serve", "content"], env, tmp / "large.log")
    try:
        wait_ready(f"http://127.0.0.1:{port}/health/ready", timeout=120)
        ready_s = time.perf_counter() - started
        rss = _rss_mb(server.pid)
        # taskset execs into frontdesk: server.pid is granian's main process.
    finally:
        stop(server)
    return {
        "pages": 500,
        "items": 5000,
        "load_and_build_s": round(in_process["total_s"], 3),
        "load_s": round(in_process["load_s"], 3),
        "build_s": round(in_process["build_s"], 3),
        "loader_process_max_rss_mb": round(in_process["max_rss_mb"], 1),
        "server_ready_s": round(ready_s, 3),
        "server_rss_mb": round(rss, 1),
    }


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        http = http_benchmarks(tmp)
        large = large_site(tmp)
    result = {
        "benchmark": "content",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "setup": {
            "server": "frontdesk serve content (granian, 1 worker) on core 0",
            "baseline": "bare Litestar app on granian, constant JSON body of the page's size",
            "load": f"wrk -t1 -c{CONNECTIONS} -d{DURATION} on core 1, Accept-Encoding: identity",
            "rounds": f"{ROUNDS} interleaved rounds of every case; the median run is reported",
            "load_average_1min_before": load_before,
        },
        **http,
        "large_site": large,
        "targets": {
            "page_200_vs_baseline": 0.85,
            "page_304_vs_baseline": 1.0,
            "load_s": 5,
            "memory_mb": 300,
        },
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
