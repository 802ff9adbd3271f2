"""Worker: emails per second delivered to a local aiosmtpd sink by the shipped worker setup
(``frontdesk worker --burst``: RQ's forking worker, one process and one SMTP connection per job, state
in Redis), one worker and two, for 1,000 queued submissions; against a plain ``smtplib`` loop sending
the same messages (one connection per message, as each job does; and one connection for all).

Every setup starts from 1,000 freshly stored submissions with their staff job queued, in a private
redis-server. Workers and the smtplib loop on the server core, the sink on the load core.
``BENCH_COUNT`` changes the number of submissions. Writes bench/results/worker.json.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import smtplib
import subprocess
import time
import uuid
from typing import Any

import redis
import redis.asyncio

from bench.harness import (
    CLINIC,
    SERVER_CPU,
    base_env,
    comparison,
    frontdesk,
    meta,
    redis_server,
    smtp_sink,
    write_result,
)
from frontdesk.submissions.claims import Claimer
from frontdesk.submissions.definition import load_forms
from frontdesk.submissions.queueing import retry_schedule
from frontdesk.submissions.record import MessageState, PhoneInfo, Submission, new_submission_id
from frontdesk.submissions.store import SubmissionStore
from worker.messages import build_environment, recipients_of, staff_message

COUNT = int(os.environ.get("BENCH_COUNT", "1000"))
WORKERS = (1, 2)  # both pinned to the server core: more overlap only the waits on SMTP and Redis


def submissions(count: int) -> list[Submission]:
    """``count`` valid contact-form submissions with a staff message to send."""
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


async def store_all(redis_url: str, store: SubmissionStore, items: list[Submission]) -> None:
    """Store ``items`` with a staff job each as the forms service does (the submission script)."""
    connection = redis.asyncio.Redis.from_url(redis_url)
    try:
        claimer = Claimer(connection)
        for item in items:
            await claimer.run(item.id, [], store.prepare(item, 90, ["staff"]))
    finally:
        await connection.aclose()


def run_workers(env: dict[str, str], connection: redis.Redis, workers: int) -> dict[str, Any]:
    """Store COUNT submissions with their jobs, then time ``workers`` burst workers draining them."""
    items = submissions(COUNT)
    connection.flushdb()
    store = SubmissionStore(connection, "frontdesk", retry_schedule(60, 24), 180)
    asyncio.run(store_all(env["FRONTDESK_REDIS_URL"], store, items))
    argv = ["taskset", "-c", SERVER_CPU, *frontdesk("worker", "--burst")]
    start = time.perf_counter()
    processes = [
        subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    for process in processes:
        process.wait()
    elapsed = time.perf_counter() - start
    keys = [f"frontdesk:submission:{s.id}" for s in items]
    sent = sum(1 for raw in connection.mget(keys) if raw and b'"status":"notified"' in raw)
    return {
        "emails": sent,
        "seconds": round(elapsed, 3),
        "emails_per_second": round(sent / elapsed, 1),
    }


def run_smtplib(port: int, *, reuse: bool) -> dict[str, Any]:
    """The same COUNT staff messages sent by a plain smtplib loop in this process (server core)."""
    form = load_forms(CLINIC)["contact"]
    envs = build_environment(CLINIC, "contact")
    messages = [staff_message(form, s, envs) for s in submissions(COUNT)]
    everywhere = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(SERVER_CPU)})
    try:
        start = time.perf_counter()
        if reuse:
            with smtplib.SMTP("127.0.0.1", port) as client:
                for message in messages:
                    client.send_message(message, to_addrs=recipients_of(message))
        else:
            for message in messages:
                with smtplib.SMTP("127.0.0.1", port) as client:
                    client.send_message(message, to_addrs=recipients_of(message))
        elapsed = time.perf_counter() - start
    finally:
        os.sched_setaffinity(0, everywhere)
    return {
        "emails": len(messages),
        "seconds": round(elapsed, 3),
        "emails_per_second": round(len(messages) / elapsed, 1),
    }


def main() -> None:
    started = meta()
    results: dict[str, dict[str, Any]] = {}
    with redis_server() as redis_url, smtp_sink(base_env()) as port:
        env = base_env(
            FRONTDESK_REDIS_URL=redis_url,
            FRONTDESK_SITE_DIR=str(CLINIC),
            FRONTDESK_SMTP_PORT=str(port),
        )
        connection = redis.Redis.from_url(redis_url)
        results["smtplib_connection_per_message"] = run_smtplib(port, reuse=False)
        results["smtplib_one_connection"] = run_smtplib(port, reuse=True)
        for workers in WORKERS:
            results[f"frontdesk_worker_x{workers}"] = run_workers(env, connection, workers)
            print(workers, results[f"frontdesk_worker_x{workers}"], flush=True)
    baseline = results["smtplib_connection_per_message"]["emails_per_second"]
    comparisons = [
        comparison(
            f"emails/s, {n} worker{'s' if n > 1 else ''}",
            results[f"frontdesk_worker_x{n}"]["emails_per_second"],
            baseline,
            "smtplib loop, a connection per message",
            "emails/s",
        )
        for n in WORKERS
    ]
    comparisons.append(
        comparison(
            "emails/s, smtplib one connection",
            results["smtplib_one_connection"]["emails_per_second"],
            baseline,
            "smtplib loop, a connection per message",
            "emails/s",
        )
    )
    details = {"submissions": COUNT, "results": results}
    write_result("worker", comparisons, details, started)


if __name__ == "__main__":
    main()
