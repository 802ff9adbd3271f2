"""Which ASGI server the image runs: granian (`frontdesk serve`) against uvicorn (httptools + uvloop,
the baseline), one server process each, same app factories, same run.

Per server: the clinic page from the content service, a phone check and a stored submission from the
forms service (its own redis-server with AOF and appendfsync always). Servers on core 0, wrk on core 1.
Writes bench/results/asgi_servers.json; docs/operations.md quotes it.
"""

from __future__ import annotations

import tempfile
from typing import Any

from harness import BIN, base_env, free_port, process, wait_http, write_result, wrk

PAGE = "/v1/pages/dry-needling-therapy-for-joint-pain"
PHONE = "/v1/phone/check?number=%2B1%20415%20555%202671&region=US"
SUBMIT_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench %d","email":"bench%d@example.com","phone":"+1 415 555 2671",' ..
    '"message":"Server comparison %d"}', counter, counter, counter)
  return wrk.format("POST", "/v1/forms/contact/submissions",
    {["Content-Type"] = "application/json"}, body)
end
"""
FACTORIES = {
    "content": "services.content.asgi:app_factory",
    "forms": "services.forms.asgi:app_factory",
}


def server(kind: str, service: str, port: int) -> list[str]:
    """The command line of one server process for ``service`` on ``port``."""
    if kind == "granian":
        return [str(BIN / "frontdesk"), "serve", service]
    return [
        str(BIN / "uvicorn"),
        "--factory",
        FACTORIES[service],
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def measure(kind: str, env: dict[str, str], seconds: int) -> dict[str, Any]:
    content_port, forms_port = int(env["FRONTDESK_CONTENT_PORT"]), int(env["FRONTDESK_FORMS_PORT"])
    figures: dict[str, Any] = {}
    with process(server(kind, "content", content_port), env):
        url = f"http://127.0.0.1:{content_port}"
        wait_http(url + "/health/live")
        wrk(url + PAGE, seconds=2)  # warm-up
        figures["page"] = wrk(url + PAGE, seconds=seconds)
    with process(server(kind, "forms", forms_port), env):
        url = f"http://127.0.0.1:{forms_port}"
        wait_http(url + "/health/ready")
        wrk(url + PHONE, seconds=2)
        figures["phone_check"] = wrk(url + PHONE, seconds=seconds)
        figures["submission"] = wrk(
            url + "/v1/forms/contact/submissions", seconds=seconds, script=SUBMIT_LUA
        )
    return figures


def main(seconds: int = 10) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        redis_port = free_port()
        env = base_env(
            FRONTDESK_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            FRONTDESK_CONTENT_PORT=str(free_port()),
            FRONTDESK_FORMS_PORT=str(free_port()),
        )
        redis_argv = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1"]
        redis_argv += ["--dir", tmp, "--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        rounds: dict[str, list[dict[str, Any]]] = {"granian": [], "uvicorn": []}
        # Redis shares the load generator's core: it is part of the forms service's cost.
        with process(redis_argv, env, cpu="1"):
            for order in (("granian", "uvicorn"), ("uvicorn", "granian")):
                for kind in order:
                    rounds[kind].append(measure(kind, env, seconds))
    # The machine is shared: the better of two alternating rounds is the least disturbed one.
    results = {
        kind: {
            endpoint: max((r[endpoint] for r in runs), key=lambda f: f["requests_per_second"])
            for endpoint in runs[0]
        }
        for kind, runs in rounds.items()
    }
    comparisons = []
    for endpoint in ("page", "phone_check", "submission"):
        value = results["granian"][endpoint]["requests_per_second"]
        baseline = results["uvicorn"][endpoint]["requests_per_second"]
        comparisons.append(
            {
                "name": f"{endpoint} req/s, granian",
                "value": value,
                "baseline": baseline,
                "baseline_name": "uvicorn (httptools, uvloop)",
                "unit": "req/s",
                "ratio": round(value / baseline, 3),
            }
        )
    figures = {**results, "rounds": rounds, "comparisons": comparisons}
    write_result("asgi_servers", figures)
    return figures


if __name__ == "__main__":
    print(main())
