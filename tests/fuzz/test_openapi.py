"""API fuzzing: schemathesis drives both services through their own OpenAPI documents.

Each operation gets a bounded number of generated requests (positive and negative data), with a fixed
seed (Hypothesis ``derandomize``), against the ASGI app in-process with a real Redis. Every response
must: not be a 5xx; carry a status code, media type, headers and body the document declares; and, for
a 4xx to a client that is not a plain HTML post, be RFC 9457 ``application/problem+json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from rq import Queue, Worker
from rq.serializers import JSONSerializer
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response

from frontdesk.settings import Settings
from services.content.app import create_app as create_content_app
from services.forms.app import create_app as create_forms_app
from services.forms.internal import create_internal_app as create_forms_internal_app
from services.forms.web import wants_html
from services.inbox.app import create_app as create_inbox_app
from tests.conftest import CLINIC_SITE, TEST_REDIS_URL

MAX_EXAMPLES = 40
fuzz_settings = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)


def is_plain_html_post(case: Case) -> bool:
    """A urlencoded or multipart POST whose ``Accept`` prefers HTML: the one non-JSON client."""
    headers = {k.lower(): str(v) for k, v in (case.headers or {}).items()}
    media = (case.media_type or headers.get("content-type", "")).lower()
    return case.method.upper() == "POST" and wants_html(
        media.split(";")[0].strip(), headers.get("accept", "")
    )


@schemathesis.check
def problem_json_for_client_errors(ctx: Any, response: Response, case: Case) -> bool | None:
    """Every 4xx to a client that is not a plain HTML post is ``application/problem+json`` with the
    RFC 9457 members ``type``, ``title``, ``status`` (equal to the HTTP status) and ``detail``."""
    if not 400 <= response.status_code < 500 or is_plain_html_post(case):
        return None
    media = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    assert media == "application/problem+json", f"{response.status_code} answered as {media!r}"
    if case.method.upper() == "HEAD":
        return True  # a HEAD answer has the GET answer's headers and no content (RFC 9110 §9.3.2)
    body = response.json()
    missing = {"type", "title", "status", "detail"} - set(body)
    assert not missing, f"problem details lack {sorted(missing)}"
    assert body["status"] == response.status_code, "problem status differs from the HTTP status"
    return True


# The schemas are loaded at collection (schemathesis' lazy ``from_fixture`` needs a pytest private
# that pytest 9.2 no longer has); settings are built directly, not read from the environment.
FUZZ_SETTINGS = Settings(
    site_dir=CLINIC_SITE,
    redis_url=TEST_REDIS_URL,
    rate_limits=False,
    retry_base_seconds=1,
)
# Deviation: a schema-valid submission body (an object of text values) is still refused with 422
# when it does not fit the form (unknown field, required field missing, bad phone): the document
# cannot carry a form's rules, which live in the site directory. So 422 counts as a correct answer
# to positive data; every other default of schemathesis' checks stands.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
            }
        }
    }
)
content = schemathesis.openapi.from_asgi(
    "/schema/openapi.json", create_content_app(FUZZ_SETTINGS), config=CONFIG
)
forms = schemathesis.openapi.from_asgi(
    "/schema/openapi.json", create_forms_app(FUZZ_SETTINGS), config=CONFIG
)
# The internal port's document: health detail and workers.
forms_internal = schemathesis.openapi.from_asgi(
    "/schema/openapi.json", create_forms_internal_app(FUZZ_SETTINGS), config=CONFIG
)
# The inbox's document: the staff API (no token is sent, so the staff routes answer their
# documented 401) and health; its HTML pages are not in it.
inbox = schemathesis.openapi.from_asgi(
    "/schema/openapi.json", create_inbox_app(FUZZ_SETTINGS), config=CONFIG
)


@pytest.fixture(autouse=True)
def _flushed_redis(redis_client: redis.Redis) -> Iterator[None]:
    """The forms service stores what it accepts in the (flushed) test database, where one RQ
    worker is registered on its queue, as in a running stack: ``/health/workers`` answers 200
    (its 503 for no worker is documented and covered by tests/service/test_ops_http.py).
    """
    queue = Queue(FUZZ_SETTINGS.queue_name, connection=redis_client, serializer=JSONSerializer)
    worker = Worker([queue], connection=redis_client, serializer=JSONSerializer)
    worker.register_birth()
    yield
    worker.register_death()


@content.parametrize()
@fuzz_settings
def test_content_api(case: Case) -> None:
    case.call_and_validate(additional_checks=[problem_json_for_client_errors])


@forms.parametrize()
@fuzz_settings
def test_forms_api(case: Case) -> None:
    if "form_id" in (case.path_parameters or {}):
        # Form ids are site data, not schema: a generated id only ever meets the 404, so the
        # body is fuzzed against the clinic's real form.
        case.path_parameters = {"form_id": "contact"}
    case.call_and_validate(additional_checks=[problem_json_for_client_errors])


@forms_internal.parametrize()
@fuzz_settings
def test_forms_internal_api(case: Case) -> None:
    case.call_and_validate(additional_checks=[problem_json_for_client_errors])


@inbox.parametrize()
@fuzz_settings
def test_inbox_staff_api(case: Case) -> None:
    case.call_and_validate(additional_checks=[problem_json_for_client_errors])
