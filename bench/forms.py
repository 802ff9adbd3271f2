"""Forms service: accepted submissions per second, every check on (origin, validation,
phone, email, honeypot, a valid time-trap token, duplicate and idempotency claims, and the atomic
write of the record with its RQ job: one Lua script, the calls of one event-loop turn in one
pipeline), rate limits lifted in the benchmark's own form definition; against a bare Litestar endpoint
that decodes the same body and writes one Redis key (bench/forms_baseline.py). Every request has a
unique email and message, so none is answered as a duplicate. Both use the same private redis-server.
Also ``GET /v1/phone/check`` per second against phonenumbers parse + is_valid + format in a loop.
Writes bench/results/forms.json.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.harness import (
    BIN,
    CLINIC,
    SERVER_CPU,
    base_env,
    comparison,
    free_port,
    frontdesk,
    granian,
    median_run,
    meta,
    redis_server,
    seconds,
    serving,
    write_result,
    wrk,
)

ROUNDS = 3
BENCH_FORM = """
id: bench
title: Benchmark form
fields:
  - {name: name, label: Name, type: text, required: true, max_length: 200}
  - {name: email, label: Email, type: email, required: true, max_length: 254}
  - {name: phone, label: Phone, type: phone, required: true, max_length: 64}
  - {name: message, label: Message, type: textarea, required: true, max_length: 5000}
recipients: [frontdesk@clinic.example]
sender: "Clinic Website <no-reply@clinic.example>"
allowed_origins: ["http://127.0.0.1:8000"]
spam:
  rate_limits: {enabled: false}
"""
POST_LUA = """
local counter = 0
function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"Ann Example","email":"ann.%d.%d@example.com","phone":"+1 415 555 2671",'
    .. '"message":"Knee pain since March, run %d.%d","_gotcha":"","_token":"TOKEN"}',
    RUN, counter, RUN, counter)
  return wrk.format("POST", "/v1/forms/bench/submissions",
    {["Content-Type"] = "application/json", ["Accept"] = "application/json",
     ["Origin"] = "http://127.0.0.1:8000"}, body)
end
"""
SUBMISSIONS = "/v1/forms/bench/submissions"
PHONE = "/v1/phone/check?number=%2B1%20415%20555%202671&region=US"
PHONENUMBERS_LOOP = """
import sys, time, phonenumbers
seconds = float(sys.argv[1])
n, end = 0, time.perf_counter() + seconds
while time.perf_counter() < end:
    for _ in range(100):
        p = phonenumbers.parse('+1 415 555 2671', 'US')
        phonenumbers.is_possible_number(p); phonenumbers.is_valid_number(p)
        phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.E164)
    n += 100
print(n / seconds)
"""


def phonenumbers_loop(duration: int) -> float:
    """Checks per second calling phonenumbers directly, on the server core."""
    argv = ["taskset", "-c", SERVER_CPU, str(BIN / "python"), "-c", PHONENUMBERS_LOOP]
    out = subprocess.run([*argv, str(duration)], capture_output=True, text=True, check=True)
    return round(float(out.stdout.strip()), 1)


def main() -> None:
    started = meta()
    duration = seconds(5)
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis_url:
        site = Path(tmp) / "site"
        shutil.copytree(CLINIC, site)
        (site / "forms" / "bench.yaml").write_text(BENCH_FORM)
        port, baseline_port = free_port(), free_port()
        env = base_env(
            FRONTDESK_REDIS_URL=redis_url,
            FRONTDESK_SITE_DIR=str(site),
            FRONTDESK_SECRET_KEY="bench-secret-key-of-at-least-32-chars",
            FRONTDESK_FORMS_PORT=str(port),
        )
        forms = f"http://127.0.0.1:{port}"
        baseline = f"http://127.0.0.1:{baseline_port}"
        with (
            serving(frontdesk("serve", "forms"), env, forms + "/health/ready"),
            serving(
                granian("bench.forms_baseline:app_factory", baseline_port),
                env,
                baseline + "/health/live",
            ),
        ):
            token = httpx.get(forms + "/v1/forms/bench").json()["token"]
            time.sleep(3.5)  # the token must be older than the form's minimum fill time
            cases = {
                "baseline": (baseline + SUBMISSIONS, True),
                "submission": (forms + SUBMISSIONS, True),
                "phone_check": (forms + PHONE, False),
            }
            run = 0

            def one(url: str, post: bool, length: int) -> dict[str, Any]:
                nonlocal run
                run += 1  # each run its own emails: no submission is a duplicate of another
                script = POST_LUA.replace("TOKEN", token).replace("RUN", str(run)) if post else ""
                return wrk(url, duration=length, script=script)

            for url, post in cases.values():  # warm-up
                one(url, post, 2)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
            for _ in range(ROUNDS):
                for name, (url, post) in cases.items():
                    runs[name].append(one(url, post, duration))
            stored = redis.Redis.from_url(redis_url).zcard("frontdesk:form:bench:submissions")
        loop = phonenumbers_loop(duration)
    results = {name: median_run(each) for name, each in runs.items()}
    comparisons = [
        comparison(
            "accepted submissions",
            results["submission"]["requests_per_second"],
            results["baseline"]["requests_per_second"],
            "bare Litestar: decode body + one Redis SET",
            "req/s",
            target=0.5,
        ),
        comparison(
            "phone check (GET /v1/phone/check)",
            results["phone_check"]["requests_per_second"],
            loop,
            "phonenumbers parse+validate+format loop",
            "checks/s",
        ),
    ]
    details = {
        "setup": {
            "servers": "frontdesk serve forms and bench/forms_baseline.py, granian, 1 worker each",
            "redis": "private redis-server, AOF appendfsync always, shared by both",
            "load": f"wrk -t1 -c32 -d{duration}s",
            "rounds": f"{ROUNDS} interleaved rounds of every case; the median run is reported",
        },
        **results,
        "stored_submissions": stored,
        "phonenumbers_loop_per_second": loop,
    }
    write_result("forms", comparisons, details, started)


if __name__ == "__main__":
    main()
