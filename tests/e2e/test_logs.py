"""Logs of the real processes: JSON lines everywhere, ids carried across, no visitor data anywhere."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.e2e.test_stack import Stack

pytestmark = pytest.mark.e2e
OURS = ("content", "forms", "worker")


@pytest.fixture
def stack(tmp_path: Path, redis_client: redis.Redis) -> Iterator[Stack]:
    running = Stack(tmp_path)
    # DEBUG: the most talkative level must be clean too.
    running.env["FRONTDESK_LOG_LEVEL"] = "DEBUG"
    try:
        running.up()
        yield running
    finally:
        running.down()


def lines_of(stack: Stack, name: str) -> list[dict[str, Any]]:
    text = (stack.logs / f"{name}.log").read_text()
    parsed = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"{name}.log line {number} is not JSON: {line!r}")
        assert isinstance(entry, dict), line
        assert {"time", "level", "logger", "message"} <= entry.keys(), line
        parsed.append(entry)
    return parsed


def submit_and_stop(stack: Stack) -> tuple[str, str]:
    """A submission, a refused one and a phone check with known visitor data; the staff message
    delivered, the stack stopped (every log flushed), no visitor value in any log of ours.
    Returns ``(request_id, submission_id)``."""
    token = secrets.token_hex(4)
    visitor = {
        "name": f"Zebulon Quixote{token}",
        "email": f"zq.{token}@example.org",
        "phone": "+1 415 555 0199",
        "message": f"Left knee hurts since March {token}",
    }
    forms = f"http://127.0.0.1:{stack.forms_port}"
    request_id = f"e2e-{token}"
    response = httpx.post(
        f"{forms}/v1/forms/contact/submissions",
        json=visitor,
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 201, response.text
    assert response.headers["x-request-id"] == request_id
    submission_id = str(response.json()["id"])
    # A refused one carries visitor data too, and so does a phone check.
    refused = httpx.post(
        f"{forms}/v1/forms/contact/submissions", json={**visitor, "email": f"not-an-email-{token}"}
    )
    assert refused.status_code == 422
    httpx.get(f"{forms}/v1/phone/check", params={"number": visitor["phone"], "region": "US"})
    assert httpx.get(f"http://127.0.0.1:{stack.forms_internal_port}/metrics").status_code == 200

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not list((stack.maildir / "new").glob("*")):
        time.sleep(0.1)
    assert list((stack.maildir / "new").glob("*")), "the staff message did not arrive"
    stack.down()  # flush and close every log

    secrets_of_visitor = [
        visitor["name"],
        visitor["email"],
        f"not-an-email-{token}",
        visitor["message"],
        token,
        "415 555 0199",
        "4155550199",
        "+14155550199",
        "(415) 555-0199",
    ]
    for name in OURS:
        text = (stack.logs / f"{name}.log").read_text()
        assert text.strip(), f"{name} wrote no log line"
        for value in secrets_of_visitor:
            # request_id contains the token on purpose: leave those fields out of the search.
            cleaned = text.replace(request_id, "<request id>")
            assert value.lower() not in cleaned.lower(), f"{value!r} appears in {name}.log"
    return request_id, submission_id


def test_every_line_is_json_with_ids_and_without_visitor_data(stack: Stack) -> None:
    request_id, submission_id = submit_and_stop(stack)
    logs = {name: lines_of(stack, name) for name in OURS}

    accepted = [e for e in logs["forms"] if submission_id in e["message"]]
    assert accepted
    assert all(e.get("request_id") == request_id for e in accepted)
    assert all(e.get("submission_id") == submission_id for e in accepted)
    worker_lines = [e for e in logs["worker"] if e.get("submission_id") == submission_id]
    # The job's own lines carry the request id from the job's meta.
    assert any(e.get("request_id") == request_id for e in worker_lines)
    # RQ's lines about the job carry the submission id too.
    assert any(e["logger"].startswith("rq.") for e in worker_lines)
    assert any(e["logger"] == "rq.worker" for e in logs["worker"])
    assert any(e["logger"].startswith("_granian") for e in logs["content"])


def test_the_text_format_has_the_same_lines_and_no_visitor_data(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    stack = Stack(tmp_path)
    stack.env["FRONTDESK_LOG_LEVEL"] = "DEBUG"
    stack.env["FRONTDESK_LOG_FORMAT"] = "text"
    try:
        stack.up()
        request_id, submission_id = submit_and_stop(stack)
    finally:
        stack.down()
    for name in OURS:
        for line in (stack.logs / f"{name}.log").read_text().splitlines():
            if line.strip():
                assert re.match(rf"\d\d:\d\d:\d\d {name} [A-Z]+ ", line), line
    forms = (stack.logs / "forms.log").read_text().splitlines()
    accepted = [line for line in forms if f"submission {submission_id} accepted" in line]
    assert accepted
    assert all(line.endswith(f" [req {request_id[:8]}]") for line in accepted)
