"""The JSON log format of every process, and the ids it carries."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from frontdesk.logging import REQUEST_ID, ContextFilter, dict_config, log_context


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the handler, formatter and filter of :func:`dict_config`.

    Built by hand: ``dictConfig`` would close every existing handler, pytest's own included.
    """
    stream = io.StringIO()
    config = dict_config("DEBUG")
    formatter_config = dict(config["formatters"]["json"])
    formatter_class = logging.config.DictConfigurator(config).resolve(formatter_config.pop("()"))
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_class(**formatter_config))
    handler.addFilter(ContextFilter())
    loggers = [logging.getLogger("frontdesk.test"), logging.getLogger("rq.worker.test")]
    for logger in loggers:
        logger.handlers = [handler]
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    yield loggers[0], stream
    for logger in loggers:
        logger.handlers = []


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
    assert dt.datetime.fromisoformat(str(first["time"])).utcoffset() == dt.timedelta(0)
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
    logging.getLogger("rq.worker.test").info(
        "frontdesk: Job OK (%s)", "0" * 12 + "a" * 16 + "-staff"
    )
    [line] = lines(stream)
    assert line["submission_id"] == "0" * 12 + "a" * 16


def test_lines_naming_a_submission_carry_its_id(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = captured
    submission_id = "01a2274389c439004f26bb61ed5a"
    log.info("submission %s accepted for form %s", submission_id, "contact")
    log.info("worker %s listening", "4a716b35f85745f998d3670eed804f86")  # 32 hex: a worker name
    named, other = lines(stream)
    assert named["submission_id"] == submission_id
    assert "submission_id" not in other
