"""Operations over HTTP: health routes, /metrics and the request id, on both apps (public and
internal), real Redis."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import redis
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from frontdesk.settings import Settings, load_settings
from frontdesk.submissions.record import Submission
from services.content.app import create_app as create_content
from services.content.app import create_internal_app as create_content_internal
from services.content.holder import SiteHolder
from services.forms.app import create_app as create_forms
from services.forms.internal import create_internal_app as create_forms_internal
from tests.conftest import CLINIC_SITE, free_port
from tests.service.forms_helpers import URL, VALID


@pytest.fixture
def forms(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_forms(settings)) as client:
        yield client


@pytest.fixture
def content(settings: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_content(settings)) as client:
        yield client


@pytest.fixture
def forms_internal(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_forms_internal(settings)) as client:
        yield client


@pytest.fixture
def content_internal(content: TestClient) -> Iterator[TestClient]:  # type: ignore[type-arg]
    # The same process's site holder, as frontdesk serve runs them.
    app = content.app
    with TestClient(create_content_internal(app.state.settings, app.state.holder)) as client:
        yield client


def _down(settings: Settings) -> Settings:
    # Nothing listens on a fresh free port: Redis "is down".
    return msgspec.structs.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")


@pytest.fixture
def forms_without_redis(settings: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_forms(_down(settings))) as client:
        yield client


@pytest.fixture
def internal_without_redis(settings: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_forms_internal(_down(settings))) as client:
        yield client


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a Prometheus text exposition, or None when absent."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return None


def test_live_on_both_services(
    forms: TestClient, content: TestClient, forms_internal: TestClient, content_internal: TestClient
) -> None:
    for client in (forms, content, forms_internal, content_internal):
        response = client.get("/health/live")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


def test_forms_ready_when_redis_answers(forms: TestClient, forms_internal: TestClient) -> None:
    for client in (forms, forms_internal):
        response = client.get("/health/ready")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert response.headers["cache-control"] == "no-store"


def test_forms_not_ready_without_redis_is_problem_json_internally(
    internal_without_redis: TestClient, forms_without_redis: TestClient
) -> None:
    response = internal_without_redis.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "redis_unavailable"
    assert "Error" in response.json()["detail"]
    # Publicly: unavailable, and not why (the error names Redis's host and port).
    public = forms_without_redis.get("/health/ready")
    assert public.status_code == 503
    assert public.json() == {"status": "unavailable"}
    # Liveness never depends on Redis: restarting the pod would not bring Redis back.
    assert forms_without_redis.get("/health/live").status_code == 200
    assert internal_without_redis.get("/health/live").status_code == 200


def test_workers_without_a_worker_is_503(forms_internal: TestClient) -> None:
    response = forms_internal.get("/health/workers")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "no_workers"
    assert body["count"] == 0
    assert body["workers"] == []


def test_workers_lists_registered_workers_with_heartbeat(
    forms_internal: TestClient, redis_client: redis.Redis, settings: Settings
) -> None:
    forms = forms_internal
    queue = Queue(settings.queue_name, connection=redis_client, serializer=JSONSerializer)
    worker = Worker([queue], connection=redis_client, serializer=JSONSerializer, name="w-one")
    worker.register_birth()
    worker.heartbeat()
    try:
        response = forms.get("/health/workers")
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 1
        [listed] = body["workers"]
        assert listed["name"] == "w-one"
        assert listed["last_heartbeat"] is not None
        assert body["last_heartbeat"] == listed["last_heartbeat"]
        assert listed["last_heartbeat"].endswith("Z")
    finally:
        worker.register_death()
    assert forms.get("/health/workers").status_code == 503


def test_workers_without_redis(internal_without_redis: TestClient) -> None:
    response = internal_without_redis.get("/health/workers")
    assert response.status_code == 503
    assert response.json()["code"] == "redis_unavailable"


def test_metrics_count_requests_by_route_template(
    content: TestClient, content_internal: TestClient
) -> None:
    before = content_internal.get("/metrics").text
    key = {"app_name": "content", "path": "/v1/pages/{slug}", "status_code": "404"}
    start = sample(before, "frontdesk_requests_total", **key) or 0.0
    assert content.get("/v1/pages/no-such-page").status_code == 404
    response = content_internal.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert sample(response.text, "frontdesk_requests_total", **key) == start + 1
    assert "frontdesk_request_duration_seconds_bucket" in response.text
    # The raw path never becomes a label (cardinality), and probes are not counted.
    assert "no-such-page" not in response.text
    assert 'path="/health/live"' not in response.text


def test_metrics_queue_depth_and_failed_jobs(
    forms: TestClient, forms_internal: TestClient, redis_client: redis.Redis, settings: Settings
) -> None:
    text = forms_internal.get("/metrics").text
    assert sample(text, "frontdesk_redis_up") == 1
    assert sample(text, "frontdesk_queue_jobs", state="queued") == 0
    assert sample(text, "frontdesk_workers") == 0
    assert forms.post(URL, json=VALID).status_code == 201
    assert forms.post(URL, json={**VALID, "message": "Shoulder"}).status_code == 201
    text = forms_internal.get("/metrics").text
    assert sample(text, "frontdesk_queue_jobs", queue="frontdesk", state="queued") == 2
    queue = Queue(settings.queue_name, connection=redis_client, serializer=JSONSerializer)
    job = queue.dequeue_any([queue], None, connection=redis_client, serializer=JSONSerializer)
    assert job is not None
    queue.failed_job_registry.add(job[0], ttl=60, exc_string="boom")
    text = forms_internal.get("/metrics").text
    assert sample(text, "frontdesk_queue_jobs", state="queued") == 1
    assert sample(text, "frontdesk_queue_jobs", state="failed") == 1


def test_metrics_count_submissions_by_outcome(
    forms: TestClient, forms_internal: TestClient
) -> None:
    def value(**labels: str) -> float:
        text = forms_internal.get("/metrics").text
        return sample(text, "frontdesk_submissions_total", **labels) or 0.0

    accepted = {"form": "contact", "outcome": "accepted"}
    rejected = {"form": "contact", "outcome": "rejected", "code": "validation_failed"}
    quarantined = {"form": "contact", "outcome": "quarantined", "code": "honeypot"}
    start = [value(**labels) for labels in (accepted, rejected, quarantined)]
    assert forms.post(URL, json=VALID).status_code == 201
    assert forms.post(URL, json={**VALID, "phone": "12"}).status_code == 422
    assert forms.post(URL, json={**VALID, "phone": "12", "name": ""}).status_code == 422
    honeypot = {**VALID, "message": "Other text", "_gotcha": "http://spam.example"}
    assert forms.post(URL, json=honeypot).status_code == 201
    assert [value(**labels) for labels in (accepted, rejected, quarantined)] == [
        start[0] + 1,
        start[1] + 2,
        start[2] + 1,
    ]


def test_content_reloads_are_counted(tmp_path: Path, env: dict[str, str]) -> None:
    site = tmp_path / "site"
    shutil.copytree(CLINIC_SITE, site)
    # No file watcher: it would reload on the edit below too and count that load as well.
    settings = {**env, "FRONTDESK_SITE_DIR": str(site), "FRONTDESK_CONTENT_WATCH": "off"}
    holder = SiteHolder(load_settings(settings))
    with TestClient(create_content_internal(holder.settings, holder)) as content:

        def value(outcome: str) -> float:
            text = content.get("/metrics").text
            return sample(text, "frontdesk_content_reloads_total", outcome=outcome) or 0.0

        ok, errors = value("ok"), value("error")
        assert holder.load() is True
        (site / "site.yaml").write_text("name: [unclosed\n")
        assert holder.load() is False
        assert (value("ok"), value("error")) == (ok + 1, errors + 1)


def test_metrics_without_redis_say_redis_is_down(internal_without_redis: TestClient) -> None:
    response = internal_without_redis.get("/metrics")
    assert response.status_code == 200
    assert sample(response.text, "frontdesk_redis_up") == 0
    assert "frontdesk_queue_jobs" not in response.text


def test_request_id_is_kept_and_stored_on_the_submission(
    forms: TestClient, redis_client: redis.Redis
) -> None:
    response = forms.post(URL, json=VALID, headers={"X-Request-ID": "req-abc-123"})
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "req-abc-123"
    raw = redis_client.get(f"frontdesk:submission:{response.json()['id']}")
    assert raw is not None
    assert msgspec.json.decode(raw, type=Submission).request_id == "req-abc-123"


@pytest.mark.parametrize("header", [None, "bad id with spaces", "x" * 200])
def test_request_id_is_new_when_missing_or_malformed(
    forms: TestClient, redis_client: redis.Redis, header: str | None
) -> None:
    headers = {"X-Request-ID": header} if header else {}
    response = forms.post(URL, json={**VALID, "message": str(header)}, headers=headers)
    assert response.status_code == 201
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    raw = redis_client.get(f"frontdesk:submission:{response.json()['id']}")
    assert raw is not None
    # The handler saw the same id as the response and the logs.
    assert msgspec.json.decode(raw, type=Submission).request_id == request_id
    job = redis_client.hget(f"rq:job:{response.json()['id']}-staff", "meta")
    assert job is not None
    assert request_id.encode() in job


def test_content_answers_with_a_request_id(content: TestClient) -> None:
    response = content.get("/v1/pages/dry-needling-therapy-for-joint-pain")
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert (
        content.get("/health/live", headers={"X-Request-ID": "r1"}).headers["x-request-id"] == "r1"
    )


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nope", 404),
        ("PUT", URL, 405),
        ("DELETE", "/v1/phone/check", 405),
        ("POST", "/health/live", 405),
        ("GET", "/health/live", 200),
    ],
)
def test_forms_answers_unrouted_requests_with_the_request_id_once(
    forms: TestClient, method: str, path: str, status: int
) -> None:
    # Litestar answers an unknown path or method before any app middleware runs.
    response = forms.request(method, path, headers={"X-Request-ID": "mine-1"})
    assert response.status_code == status
    assert response.headers.get_list("x-request-id") == ["mine-1"]
    fresh = forms.request(method, path)
    assert len(fresh.headers.get_list("x-request-id")) == 1
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])


def test_forms_log_lines_carry_the_request_id(
    forms: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    from frontdesk.logging import REQUEST_ID

    seen: list[str | None] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(REQUEST_ID.get())

    spy = Spy()
    logger = logging.getLogger("frontdesk.forms")
    logger.addHandler(spy)
    try:
        with caplog.at_level(logging.INFO, logger="frontdesk.forms"):
            response = forms.post(URL, json=VALID, headers={"X-Request-ID": "log-1"})
    finally:
        logger.removeHandler(spy)
    assert response.status_code == 201
    assert seen
    assert set(seen) == {"log-1"}


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_health_routes_answer_head_on_both_services(
    forms: TestClient,
    content: TestClient,
    forms_internal: TestClient,
    content_internal: TestClient,
    path: str,
) -> None:
    # Some load-balancer probes send HEAD: the GET answer's status and headers, no body.
    for client in (forms, content, forms_internal, content_internal):
        response = client.head(path)
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["content-type"] == "application/json"


def test_health_head_keeps_the_failure_status(
    forms_without_redis: TestClient, internal_without_redis: TestClient, forms_internal: TestClient
) -> None:
    for client in (forms_without_redis, internal_without_redis):
        down = client.head("/health/ready")
        assert down.status_code == 503
        assert down.content == b""
    assert forms_internal.head("/health/workers").status_code == 503  # no worker registered


@pytest.mark.parametrize("path", ["/metrics", "/health/workers", "/v1/submissions/x"])
def test_internals_are_not_on_the_public_apps(
    forms: TestClient, content: TestClient, path: str
) -> None:
    assert forms.get(path).status_code == 404
    assert content.get(path).status_code == 404


def test_every_internal_answer_is_no_store(
    forms_internal: TestClient, content_internal: TestClient
) -> None:
    for client in (forms_internal, content_internal):
        for path in ("/metrics", "/health/live", "/health/ready", "/nope"):
            response = client.get(path)
            assert response.headers["cache-control"] == "no-store", (path, response.status_code)
            assert response.headers["x-request-id"]
