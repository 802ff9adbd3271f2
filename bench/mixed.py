"""Mixed load: page views with a submission every 50 views, against page views alone, same
run. The content and forms services (granian), the worker, a private redis-server (AOF, appendfsync
always) and an SMTP sink all run; services and worker on the server core. Writes
bench/results/mixed.json.
"""

from __future__ import annotations

import threading
from typing import Any

import redis

from bench.harness import (
    CLINIC,
    base_env,
    comparison,
    free_port,
    frontdesk,
    meta,
    process,
    redis_server,
    seconds,
    serving,
    smtp_sink,
    write_result,
    wrk,
)

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


def main() -> None:
    started = meta()
    duration = seconds(15)
    content_port, forms_port = free_port(), free_port()
    content = f"http://127.0.0.1:{content_port}"
    forms = f"http://127.0.0.1:{forms_port}"
    with redis_server() as redis_url, smtp_sink(base_env()) as smtp_port:
        env = base_env(
            FRONTDESK_REDIS_URL=redis_url,
            FRONTDESK_SITE_DIR=str(CLINIC),
            FRONTDESK_CONTENT_PORT=str(content_port),
            FRONTDESK_FORMS_PORT=str(forms_port),
            FRONTDESK_SMTP_PORT=str(smtp_port),
        )
        with (
            serving(frontdesk("serve", "content"), env, content + "/health/ready"),
            serving(frontdesk("serve", "forms"), env, forms + "/health/ready"),
            process(frontdesk("worker"), env),
        ):
            wrk(content + PAGE, duration=3)  # warm-up
            views_only = wrk(content + PAGE, duration=duration)
            # One connection posting with a pause: about one submission per 50 views.
            delay_ms = max(
                1, round(1000 * VIEWS_PER_SUBMISSION / views_only["requests_per_second"])
            )
            submissions: dict[str, Any] = {}
            script = SUBMIT_LUA.replace("DELAY_MS", str(delay_ms))
            poster = threading.Thread(
                target=lambda: submissions.update(
                    wrk(
                        forms + "/v1/forms/contact/submissions",
                        duration=duration,
                        connections=1,
                        script=script,
                    )
                )
            )
            poster.start()
            views = wrk(content + PAGE, duration=duration)
            poster.join()
            queued = redis.Redis.from_url(redis_url).llen("rq:queue:frontdesk")
    comparisons = [
        comparison(
            "page views/s under mixed load",
            views["requests_per_second"],
            views_only["requests_per_second"],
            "page views alone",
            "req/s",
        ),
        comparison(
            "page view p99 under mixed load",
            views["p99_ms"],
            views_only["p99_ms"],
            "page views alone",
            "ms",
            lower_is_better=True,
        ),
    ]
    details = {
        "views_only": views_only,
        "mixed_views": views,
        "mixed_submissions": submissions,
        "views_per_submission": round(views["requests"] / max(1, submissions["requests"]), 1),
        "queue_left": queued,
    }
    write_result("mixed", comparisons, details, started)


if __name__ == "__main__":
    main()
