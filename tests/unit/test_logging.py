"""The JSON log format of every process, and the ids it carries."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from frontdesk.logging import REQUEST_ID, dict_config, log_context


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    config = dict_config("DEBUG")
    config["handlers"]["json"]["stream"] = stream
    del config["root"]  # leave pytest's own root handlers alone
    config["loggers"] = {
        "frontdesk.test": {"handlers": ["json"], "level": "DEBUG", "propagate": False}
    }
    logging.config.dictConfig(config)
    yield logging.getLogger("frontdesk.test"), stream
    for name in ("frontdesk.test", "rq.worker.test"):
        logging.getLogger(name).handlers = []


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line(captured: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = captured
    log.info("first %s", "line")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("second")
    first, second = lines(stream)
    assert first["message"] == "first line"
    assert first["level"] == "INFO"
    assert first["logger"] == "frontdesk.test"
    assert str(first["time"]).endswith("+00:00")
    assert "request_id" not in first
    assert "ValueError: boom" in str(second["exc_info"])  # the traceback stays on one line


def test_ids_from_the_context(captured: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = captured
    token = REQUEST_ID.set("req-1")
    try:
        with log_context(submission_id="01a2"):
            log.info("about a submission")
        log.info("after")
    finally:
        REQUEST_ID.reset(token)
    inside, after = lines(stream)
    assert (inside["request_id"], inside["submission_id"]) == ("req-1", "01a2")
    assert after["request_id"] == "req-1"
    assert "submission_id" not in after


def test_rq_lines_get_the_submission_from_the_job_id(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    _, stream = captured
    rq_log = logging.getLogger("rq.worker.test")
    rq_log.handlers = logging.getLogger("frontdesk.test").handlers
    rq_log.propagate = False
    rq_log.info("frontdesk: Job OK (%s)", "0" * 12 + "a" * 16 + "-staff")
    [line] = lines(stream)
    assert line["submission_id"] == "0" * 12 + "a" * 16
