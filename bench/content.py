"""Content service: page GET (200), page GET with If-None-Match (304), a collection list
(answered by the fast path, services/content/fastpath.py) and a tag-filtered one (a query string:
routed through Litestar) from ``frontdesk serve content`` (production settings), against a bare
Litestar app on granian answering a constant JSON body of the page's size (bench/baseline_app.py);
same run, same wrk, rounds interleaved. Then a generated site of 5,000 items and 500 pages: load +
build time, and the serving process's RSS. Writes bench/results/content.json.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    BIN,
    CLINIC,
    ROOT,
    SERVER_CPU,
    base_env,
    comparison,
    free_port,
    frontdesk,
    granian,
    median_run,
    meta,
    rss_mb,
    seconds,
    serving,
    write_result,
    wrk,
)

PAGE = "/v1/pages/dry-needling-therapy-for-joint-pain"
ROUNDS = 3
IDENTITY = {"Accept-Encoding": "identity"}


def http_benchmarks(tmp: Path, duration: int) -> dict[str, Any]:
    """Both servers up at once on the server core (one under load at a time); ROUNDS interleaved
    rounds of every case, so the shared machine's noise hits all cases alike; medians reported."""
    port, baseline_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = base_env(FRONTDESK_SITE_DIR=str(CLINIC), FRONTDESK_CONTENT_PORT=str(port))
    with serving(frontdesk("serve", "content"), env, f"{base}/health/ready"):
        page = httpx.get(base + PAGE, headers=IDENTITY)
        (tmp / "page.json").write_bytes(page.content)
        baseline_env = env | {"BENCH_BODY_FILE": str(tmp / "page.json")}
        baseline_url = f"http://127.0.0.1:{baseline_port}/page"
        with serving(
            granian("bench.baseline_app:app_factory", baseline_port), baseline_env, baseline_url
        ):
            cases = {
                "baseline": (baseline_url, IDENTITY),
                "page_200": (base + PAGE, IDENTITY),
                "page_304": (base + PAGE, IDENTITY | {"If-None-Match": page.headers["etag"]}),
                "collection_list": (base + "/v1/collections/therapies/items", IDENTITY),
                # A query string: answered by the routed Litestar handler, not the fast path.
                "collection_list_tag": (
                    base + "/v1/collections/therapies/items?tag=joint-pain",
                    IDENTITY,
                ),
            }
            for url, headers in cases.values():  # warm-up
                wrk(url, duration=2, headers=headers)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
            for _ in range(ROUNDS):
                for name, (url, headers) in cases.items():
                    runs[name].append(wrk(url, duration=duration, headers=headers))
    return {"body_bytes": len(page.content)} | {
        name: median_run(each) for name, each in runs.items()
    }


def generate_site(root: Path, pages: int = 500, items: int = 5000) -> None:
    """A site of ``pages`` pages and ``items`` items over the clinic site's collections."""
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


def large_site(tmp: Path) -> dict[str, Any]:
    """Load + build time of a generated 5,000-item, 500-page site in one process, then the time to
    ready and the RSS of ``frontdesk serve content`` serving it (with the site watcher on)."""
    root = tmp / "large"
    root.mkdir()
    generate_site(root)
    out = subprocess.run(
        ["taskset", "-c", SERVER_CPU, str(BIN / "python"), "-c", LOAD_SCRIPT, str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    in_process = json.loads(out)
    port = free_port()
    env = base_env(
        FRONTDESK_SITE_DIR=str(root),
        FRONTDESK_CONTENT_PORT=str(port),
        FRONTDESK_CONTENT_WATCH="on",
    )
    started = time.perf_counter()
    with serving(
        frontdesk("serve", "content"), env, f"http://127.0.0.1:{port}/health/ready"
    ) as pid:
        ready_s = time.perf_counter() - started
        rss = rss_mb(pid)
    return {
        "pages": 500,
        "items": 5000,
        "load_and_build_s": round(in_process["total_s"], 3),
        "load_s": round(in_process["load_s"], 3),
        "build_s": round(in_process["build_s"], 3),
        "loader_process_max_rss_mb": round(in_process["max_rss_mb"], 1),
        "server_ready_s": round(ready_s, 3),
        "server_rss_mb": rss,
    }


def main() -> None:
    started = meta()
    duration = seconds(5)
    with tempfile.TemporaryDirectory() as tmp_name:
        http = http_benchmarks(Path(tmp_name), duration)
        large = large_site(Path(tmp_name))
    base_rps = http["baseline"]["requests_per_second"]
    bare = "bare Litestar, constant body"
    comparisons = [
        comparison(
            "page GET 200",
            http["page_200"]["requests_per_second"],
            base_rps,
            bare,
            "req/s",
            target=0.85,
        ),
        comparison(
            "page GET 304 (If-None-Match)",
            http["page_304"]["requests_per_second"],
            base_rps,
            bare,
            "req/s",
            target=1.0,
        ),
        comparison(
            "collection list",
            http["collection_list"]["requests_per_second"],
            base_rps,
            bare,
            "req/s",
        ),
        comparison(
            "collection list ?tag= (routed by Litestar)",
            http["collection_list_tag"]["requests_per_second"],
            base_rps,
            bare,
            "req/s",
        ),
        comparison(
            "large site load + build (5,000 items, 500 pages)",
            large["load_and_build_s"],
            5.0,
            "limit",
            "s",
            target=1.0,
            lower_is_better=True,
        ),
        comparison(
            "large site server RSS",
            large["server_rss_mb"],
            300.0,
            "limit",
            "MiB",
            target=1.0,
            lower_is_better=True,
        ),
    ]
    details = {
        "setup": {
            "server": "frontdesk serve content (granian, 1 worker)",
            "baseline": "bench/baseline_app.py: bare Litestar on granian, the page's JSON as a constant",
            "load": f"wrk -t1 -c32 -d{duration}s, Accept-Encoding: identity",
            "rounds": f"{ROUNDS} interleaved rounds of every case; the median run is reported",
        },
        "http": http,
        "large_site": large,
    }
    write_result("content", comparisons, details, started)


if __name__ == "__main__":
    main()
