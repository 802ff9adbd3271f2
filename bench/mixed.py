"""Mixed load: page views with a submission every 50 views, against page views alone (same run).

Starts its own redis-server (AOF, appendfsync always), the content and forms services (granian), the
worker and an SMTP sink, all pinned to core 0; wrk runs on core 1. Writes bench/results/mixed.json.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from typing import Any

from harness import BIN, base_env, free_port, process, wait_http, write_result, wrk

PAGE = "/v1/pages/dry-needling-therapy-for-joint-pain"
VIEWS_PER_SUBMISSION = 50
SUBMIT_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench %d","email":"bench%d@example.com","phone":"+1 415 555 2671",' ..
    '"message":"Mixed load inquiry %d"}', counter, counter, counter)
  return wrk.format("POST", "/v1/forms/contact/submissions",
    {["Content-Type"] = "application/json"}, body)
end
delay = function() return DELAY_MS end
"""


def main(seconds: int = 15) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        redis_port, content_port, forms_port, smtp_port = (free_port() for _ in range(4))
        env = base_env(
            FRONTDESK_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            FRONTDESK_CONTENT_PORT=str(content_port),
            FRONTDESK_FORMS_PORT=str(forms_port),
            FRONTDESK_SMTP_PORT=str(smtp_port),
        )
        redis_argv = [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--dir",
            tmp,
        ]
        redis_argv += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        sink = [str(BIN / "python"), "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}"]
        sink += ["-c", "aiosmtpd.handlers.Sink"]
        with (
            process(redis_argv, env),
            process(sink, env),
            process([str(BIN / "frontdesk"), "serve", "content"], env),
            process([str(BIN / "frontdesk"), "serve", "forms"], env),
            process([str(BIN / "frontdesk"), "worker"], env),
        ):
            content = f"http://127.0.0.1:{content_port}"
            forms = f"http://127.0.0.1:{forms_port}"
            wait_http(content + "/health/live")
            wait_http(forms + "/health/ready")
            wrk(content + PAGE, seconds=3)  # warm-up
            views_only = wrk(content + PAGE, seconds=seconds)
            delay_ms = max(
                1, round(1000 * VIEWS_PER_SUBMISSION / views_only["requests_per_second"])
            )
            submissions: dict[str, Any] = {}

            def submit() -> None:
                submissions.update(
                    wrk(
                        forms + "/v1/forms/contact/submissions",
                        seconds=seconds,
                        connections=1,
                        script=SUBMIT_LUA.replace("DELAY_MS", str(delay_ms)),
                    )
                )

            poster = threading.Thread(target=submit)
            poster.start()
            views = wrk(content + PAGE, seconds=seconds)
            poster.join()
            queued = subprocess.run(
                ["redis-cli", "-p", str(redis_port), "llen", "rq:queue:frontdesk"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
    ratio = round(views["requests_per_second"] / views_only["requests_per_second"], 3)
    figures = {
        "views_only": views_only,
        "mixed_views": views,
        "mixed_submissions": submissions,
        "views_per_submission": round(views["requests"] / max(1, submissions["requests"]), 1),
        "queue_left": queued,
        "comparisons": [
            {
                "name": "page views/s under mixed load",
                "value": views["requests_per_second"],
                "baseline": views_only["requests_per_second"],
                "baseline_name": "page views alone",
                "unit": "req/s",
                "ratio": ratio,
            },
            {
                "name": "page view p99 under mixed load",
                "value": views["p99_ms"],
                "baseline": views_only["p99_ms"],
                "baseline_name": "page views alone",
                "unit": "ms",
                "ratio": round(views["p99_ms"] / max(views_only["p99_ms"], 0.001), 3),
            },
        ],
    }
    write_result("mixed", figures)
    return figures


if __name__ == "__main__":
    print(main())
