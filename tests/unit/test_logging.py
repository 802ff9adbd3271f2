"""The JSON log format of every process, and the ids it carries."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import logging.config
import re
from collections.abc import Iterator

import pytest

from frontdesk.logging import REQUEST_ID, ContextFilter, TextFormatter, dict_config, log_context


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


def text_logger(role: str = "forms") -> tuple[logging.Logger, io.StringIO]:
    """A logger writing through the text formatter of :func:`dict_config`, built by hand."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    options = dict(dict_config("DEBUG", "text", role)["formatters"]["text"])
    assert options.pop("()") == "frontdesk.logging.TextFormatter"
    handler.setFormatter(TextFormatter(**options))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger(f"frontdesk.test.text.{role}")
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, stream


def test_text_format_names_time_process_level_and_request() -> None:
    log, stream = text_logger("forms")
    token = REQUEST_ID.set("74e0fe7c5d2a4b1e9f0a1b2c3d4e5f60")
    try:
        log.info("submission %s accepted for form %s", "01a2" * 7, "contact")
    finally:
        REQUEST_ID.reset(token)
    log.warning("no request here")
    first, second = stream.getvalue().splitlines()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d forms INFO submission (01a2){7} accepted for form contact \[req 74e0fe7c\]",
        first,
    )
    assert re.fullmatch(r"\d\d:\d\d:\d\d forms WARNING no request here", second)


def test_text_format_escapes_line_breaks_and_control_characters() -> None:
    # A value inside a message (a form name, an SMTP answer, a header) with a line break would
    # otherwise start a line that looks like a log line of its own.
    log, stream = text_logger("worker")
    fake = "12:00:00 worker INFO all good"
    log.info("form %s", f"contact\n{fake}\r\x1b[2J\u2028end")
    try:
        raise ValueError("multi\nline")
    except ValueError:
        log.exception("failed")
    text = stream.getvalue()
    assert text.count("\n") == 2  # two records, two lines
    first, second = text.splitlines()
    assert first.endswith(r"form contact\n12:00:00 worker INFO all good\r\x1b[2J\u2028end")
    assert "ValueError: multi\\nline" in second
    assert second.startswith(second[:8] + " worker ERROR failed\\nTraceback")
