"""Emails per second delivered to a local aiosmtpd sink by the shipped worker setup, against a plain
``smtplib`` loop sending the same messages, for 1,000 queued submissions.

Setups (each starts from 1,000 freshly stored submissions with their staff job queued):
- ``frontdesk worker --burst`` × 1, × 2 and × 4 (RQ forking worker: a process per job, one SMTP
  connection per job, state kept in Redis);
- baseline ``smtplib``, one connection per message (what each job does) and one connection for all.

The sink (aiosmtpd, ``Sink`` handler) is pinned to CPU 1, workers and the baseline to CPU 0.
Usage: ``BENCH_REDIS_URL=redis://127.0.0.1:6379/12 .venv/bin/python bench/worker.py`` (flushes that DB).
Writes ``bench/results/worker.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from frontdesk.settings import load_settings  # noqa: E402
from services.forms.definition import load_forms  # noqa: E402
from services.forms.record import MessageState, PhoneInfo, Submission, new_submission_id  # noqa: E402
from services.forms.store import SubmissionStore, retry_schedule  # noqa: E402
from worker.messages import build_environment, recipients_of, staff_message  # noqa: E402

COUNT = int(os.environ.get("BENCH_COUNT", "1000"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
SITE = ROOT / "examples" / "clinic-site"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def submissions(count: int) -> list[Submission]:
    return [
        Submission(
            id=new_submission_id(),
            form="contact",
            status="received",
            created_at=dt.datetime.now(dt.UTC),
            fields={
                "name": f"Visitor {i}",
                "email": f"visitor{i}@example.com",
                "phone": "+1 415 555 2671",
                "message": "Knee pain since Monday. " * 10,
            },
            phone=PhoneInfo(
                raw="+1 415 555 2671",
                e164="+14155552671",
                international="+1 415-555-2671",
                extension=None,
                region="US",
                type="FIXED_LINE_OR_MOBILE",
                valid=True,
            ),
            messages=[MessageState(kind="staff")],
            request_id=uuid.uuid4().hex,
        )
        for i in range(count)
    ]


def store_all(connection: redis.Redis, items: list[Submission]) -> None:
    connection.flushdb()
    store = SubmissionStore(connection, "frontdesk", retry_schedule(60, 24), 180)
    for item in items:
        store.save(item, 90, ["staff"])


def notified(connection: redis.Redis, items: list[Submission]) -> int:
    keys = [f"frontdesk:submission:{s.id}" for s in items]
    return sum(1 for raw in connection.mget(keys) if raw and b'"status":"notified"' in raw)


def run_workers(env: dict[str, str], connection: redis.Redis, workers: int) -> dict[str, float]:
    items = submissions(COUNT)
    store_all(connection, items)
    start = time.perf_counter()
    processes = [
        subprocess.Popen(
            ["taskset", "-c", "0", str(BIN / "frontdesk"), "worker", "--burst"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    for process in processes:
        process.wait()
    seconds = time.perf_counter() - start
    sent = notified(connection, items)
    return {
        "emails": sent,
        "seconds": round(seconds, 3),
        "emails_per_second": round(sent / seconds, 1),
    }


def run_smtplib(port: int, *, reuse: bool) -> dict[str, float]:
    os.sched_setaffinity(0, {0})
    form = load_forms(SITE)["contact"]
    envs = build_environment(SITE, "contact")
    messages = [staff_message(form, s, envs) for s in submissions(COUNT)]
    start = time.perf_counter()
    if reuse:
        with smtplib.SMTP("127.0.0.1", port) as client:
            for message in messages:
                client.send_message(message, to_addrs=recipients_of(message))
    else:
        for message in messages:
            with smtplib.SMTP("127.0.0.1", port) as client:
                client.send_message(message, to_addrs=recipients_of(message))
    seconds = time.perf_counter() - start
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return {
        "emails": len(messages),
        "seconds": round(seconds, 3),
        "emails_per_second": round(len(messages) / seconds, 1),
    }


def main() -> None:
    port = free_port()
    sink = subprocess.Popen(
        [
            "taskset",
            "-c",
            "1",
            str(BIN / "python"),
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env |= {
        "FRONTDESK_REDIS_URL": REDIS_URL,
        "FRONTDESK_SITE_DIR": str(SITE),
        "FRONTDESK_SMTP_PORT": str(port),
        "FRONTDESK_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    load_settings()
    connection = redis.Redis.from_url(REDIS_URL)
    results: dict[str, dict[str, float]] = {}
    try:
        results["smtplib_connection_per_message"] = run_smtplib(port, reuse=False)
        results["smtplib_one_connection"] = run_smtplib(port, reuse=True)
        for workers in (1, 2, 4):
            results[f"frontdesk_worker_x{workers}"] = run_workers(env, connection, workers)
            print(workers, results[f"frontdesk_worker_x{workers}"], flush=True)
    finally:
        connection.flushdb()
        sink.terminate()
        sink.wait()
    out = {
        "benchmark": "worker",
        "submissions": COUNT,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "pinning": "sink on CPU 1; workers and smtplib loop on CPU 0",
        "results": results,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    path = ROOT / "bench" / "results" / "worker.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
