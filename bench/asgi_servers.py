"""ASGI server: granian (``frontdesk serve``) against uvicorn (httptools + uvloop, the
baseline), one server process each, same app factories, same run. Per server: the clinic page from
the content service, a phone check and a stored submission from the forms service (a private
redis-server, AOF appendfsync always). Two rounds in alternating order; the better round of each is
kept. Writes bench/results/asgi_servers.json; docs/operations.md quotes it.
"""

from __future__ import annotations

from typing import Any

from bench.harness import (
    BIN,
    CLINIC,
    base_env,
    comparison,
    free_port,
    frontdesk,
    meta,
    redis_server,
    seconds,
    serving,
    write_result,
    wrk,
)

PAGE = "/v1/pages/dry-needling-therapy-for-joint-pain"
PHONE = "/v1/phone/check?number=%2B1%20415%20555%202671&region=US"
SUBMIT_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench %d","email":"bench.RUN.%d@example.com","phone":"+1 415 555 2671",' ..
    '"message":"Server comparison RUN %d"}', counter, counter, counter)
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
        return frontdesk("serve", service)
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


def measure(kind: str, env: dict[str, str], duration: int, run: int) -> dict[str, Any]:
    """Page, phone check and submission req/s of one server kind."""
    content_port, forms_port = int(env["FRONTDESK_CONTENT_PORT"]), int(env["FRONTDESK_FORMS_PORT"])
    figures: dict[str, Any] = {}
    url = f"http://127.0.0.1:{content_port}"
    with serving(server(kind, "content", content_port), env, url + "/health/live"):
        wrk(url + PAGE, duration=2)  # warm-up
        figures["page"] = wrk(url + PAGE, duration=duration)
    url = f"http://127.0.0.1:{forms_port}"
    with serving(server(kind, "forms", forms_port), env, url + "/health/ready"):
        wrk(url + PHONE, duration=2)
        figures["phone_check"] = wrk(url + PHONE, duration=duration)
        figures["submission"] = wrk(
            url + "/v1/forms/contact/submissions",
            duration=duration,
            script=SUBMIT_LUA.replace("RUN", str(run)),  # no duplicate of an earlier round
        )
    return figures


def main() -> None:
    started = meta()
    duration = seconds(5)
    rounds: dict[str, list[dict[str, Any]]] = {"granian": [], "uvicorn": []}
    with redis_server() as redis_url:
        env = base_env(
            FRONTDESK_REDIS_URL=redis_url,
            FRONTDESK_SITE_DIR=str(CLINIC),
            FRONTDESK_CONTENT_PORT=str(free_port()),
            FRONTDESK_FORMS_PORT=str(free_port()),
        )
        run = 0
        for order in (("granian", "uvicorn"), ("uvicorn", "granian")):
            for kind in order:
                run += 1
                rounds[kind].append(measure(kind, env, duration, run))
    # The machine is shared: the better of two alternating rounds is the least disturbed one.
    results = {
        kind: {
            endpoint: max((r[endpoint] for r in runs), key=lambda f: f["requests_per_second"])
            for endpoint in runs[0]
        }
        for kind, runs in rounds.items()
    }
    comparisons = [
        comparison(
            f"{endpoint} req/s, granian",
            results["granian"][endpoint]["requests_per_second"],
            results["uvicorn"][endpoint]["requests_per_second"],
            "uvicorn (httptools, uvloop)",
            "req/s",
        )
        for endpoint in ("page", "phone_check", "submission")
    ]
    write_result("asgi_servers", comparisons, {**results, "rounds": rounds}, started)


if __name__ == "__main__":
    main()
