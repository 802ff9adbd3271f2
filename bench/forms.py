"""Forms service benchmark (issue 4): accepted submissions per second against a bare baseline.

Run from the repository root: ``uv run python bench/forms.py`` (needs ``wrk``; Redis at
``FRONTDESK_BENCH_REDIS_URL``, default database 11, which the run flushes before and after).

- Both servers run under granian (one worker) pinned to CPU 0 with ``taskset``; wrk runs pinned to
  CPU 1, so server and load generator never share a core.
- Forms: a valid JSON body, every check on (origin, validation, phone, email, honeypot, a valid
  time-trap token, duplicate and idempotency claims, MULTI/EXEC with the RQ job); rate limits are
  lifted in the benchmark's own form definition. Every request has a unique email and message, so
  none is answered as a duplicate.
- Baseline: ``bench/forms_baseline.py``, decoding the same body and writing one Redis key.
- Phone check: ``GET /v1/phone/check`` per second against phonenumbers parse + is_valid + format in
  a loop (one core).

Writes ``bench/results/forms.json``.
"""

from __future__ import annotations

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
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("FRONTDESK_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
DURATION = int(os.environ.get("BENCH_SECONDS", "15"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
SERVER_CPU, LOAD_CPU = "0", "1"

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
local threads = 0
local token = os.getenv("BENCH_TOKEN")
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"Ann Example","email":"ann.%d.%d@example.com","phone":"+1 415 555 2671",'
    .. '"message":"Knee pain since March, run %d.%d","_gotcha":"","_token":"%s"}',
    tid, counter, tid, counter, token)
  return wrk.format("POST", "/v1/forms/bench/submissions",
    {["Content-Type"] = "application/json", ["Accept"] = "application/json",
     ["Origin"] = "http://127.0.0.1:8000"}, body)
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(target: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        "taskset",
        "-c",
        SERVER_CPU,
        str(ROOT / ".venv/bin/granian"),
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
        target,
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{target} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def wrk(url: str, script: Path | None, env: dict[str, str]) -> dict[str, float]:
    command = [
        "taskset",
        "-c",
        LOAD_CPU,
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{DURATION}s",
        "--latency",
    ]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run(
        [*command, url], env=env, capture_output=True, text=True, check=True
    ).stdout
    return parse_wrk(output)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output: str) -> dict[str, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    latency = {p: _ms(v, u) for p, v, u in re.findall(r"\s+(50|99)%\s+([\d.]+)(us|ms|s)\b", output)}
    return {
        "requests_per_second": rps,
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "none",  # type: ignore[dict-item]
        "p50_ms": latency.get("50", float("nan")),
        "p99_ms": latency.get("99", float("nan")),
    }


def phonenumbers_loop(seconds: float = 5.0) -> float:
    """Checks per second calling phonenumbers directly (parse, is_possible, is_valid, format)."""
    code = (
        "import phonenumbers, time\n"
        "n = 0\n"
        f"end = time.perf_counter() + {seconds}\n"
        "while time.perf_counter() < end:\n"
        "    for _ in range(100):\n"
        "        p = phonenumbers.parse('+1 415 555 2671', 'US')\n"
        "        phonenumbers.is_possible_number(p); phonenumbers.is_valid_number(p)\n"
        "        phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.E164)\n"
        "    n += 100\n"
        f"print(n / {seconds})\n"
    )
    output = subprocess.run(
        ["taskset", "-c", SERVER_CPU, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(output.strip())


def flush(env: dict[str, str]) -> None:
    import redis

    redis.Redis.from_url(env["FRONTDESK_REDIS_URL"]).flushdb()


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="frontdesk-bench-"))
    site = workdir / "site"
    shutil.copytree(ROOT / "examples/clinic-site", site)
    (site / "forms/bench.yaml").write_text(BENCH_FORM)
    script = workdir / "post.lua"
    script.write_text(POST_LUA)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")},
        "FRONTDESK_REDIS_URL": REDIS_URL,
        "FRONTDESK_SITE_DIR": str(site),
        "FRONTDESK_SECRET_KEY": "bench-secret",
        "FRONTDESK_LOG_LEVEL": "WARNING",
        # The bench form lifts its own limits; this lifts the phone check's 120/min per IP too.
        "FRONTDESK_RATE_LIMITS": "off",
        "PYTHONPATH": str(ROOT),
    }
    flush(env)
    results: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": "2 shared cores; server on CPU 0, wrk on CPU 1",
        },
        "duration_seconds": DURATION,
        "connections": CONNECTIONS,
    }
    port = free_port()
    server = start("bench.forms_baseline:app_factory", port, env)
    try:
        baseline = wrk(
            f"http://127.0.0.1:{port}/v1/forms/bench/submissions",
            script,
            {**os.environ, "BENCH_TOKEN": "x"},
        )
    finally:
        stop(server)
    flush(env)
    port = free_port()
    server = start("services.forms.asgi:app_factory", port, env)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/forms/bench") as response:
            token = json.load(response)["token"]
        time.sleep(3.5)  # the token must be older than the form's minimum fill time
        forms = wrk(
            f"http://127.0.0.1:{port}/v1/forms/bench/submissions",
            script,
            {**os.environ, "BENCH_TOKEN": token},
        )
        import redis

        stored = redis.Redis.from_url(REDIS_URL).zcard("frontdesk:form:bench:submissions")
        forms["stored"] = stored
        phone = wrk(
            f"http://127.0.0.1:{port}/v1/phone/check?number=%2B1%20415%20555%202671&region=US",
            None,
            {**os.environ},
        )
    finally:
        stop(server)
    flush(env)
    loop = phonenumbers_loop()
    results["submissions"] = {
        "forms": forms,
        "baseline_bare_litestar_one_redis_set": baseline,
        "ratio": round(forms["requests_per_second"] / baseline["requests_per_second"], 3),
        "target_ratio": 0.5,
    }
    results["phone_check"] = {
        "http_get_phone_check": phone,
        "phonenumbers_direct_loop_per_second": loop,
        "ratio": round(phone["requests_per_second"] / loop, 3),
    }
    out = ROOT / "bench/results/forms.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
