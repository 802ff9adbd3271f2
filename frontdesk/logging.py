"""Logs: one JSON object per line, on every process (content, forms, worker), RQ's lines included;
or, with ``FRONTDESK_LOG_FORMAT=text`` (``scripts/run`` on a terminal), one short line a person reads.

Every line has ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message`` and ``process``; lines
written while a request or a job is handled also carry ``request_id`` (from ``X-Request-ID`` or a new
one, see :mod:`frontdesk.requestid`; in the worker, from the job's ``meta``) and ``submission_id``
(bound with :func:`log_context`; in the worker, the job's first argument, which is always the
submission id; other lines that name a submission or its job get it from the text). Visitor data
(name, email, phone, message) is never logged: log ids, never values.

:func:`dict_config` is a :func:`logging.config.dictConfig` dict, picklable, so granian can apply it in
its worker processes too; :func:`configure` applies it in this process.

The text format (:class:`TextFormatter`) carries the same messages, laid out as
``19:04:05 forms INFO submission 01a2… accepted for form contact (received) [req 74e0fe7c]``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.config
import re
import sys
import time
from collections.abc import Iterator
from typing import Any, Literal

LogFormat = Literal["json", "text"]

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "frontdesk_request_id", default=None
)
SUBMISSION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "frontdesk_submission_id", default=None
)

# Loggers that install their own handlers or stop propagating (RQ 3 does both, granian routes its
# lines to its own stdout handlers): they are sent to the root's handler instead.
# A submission id is 28 hex digits (frontdesk.submissions.record.new_submission_id) and a job id is
# ``<submission id>-<kind>``: lines that name one (RQ's own, "submission <id> accepted") get the
# field. Worker names and request ids are 32 hex digits, which this never matches.
_SUBMISSION_IN_TEXT = re.compile(r"\b([0-9a-f]{28})(?:-[a-z_]+)?\b")

_THIRD_PARTY = ("rq", "rq.worker", "rq.job", "rq.scheduler", "rq.queue", "_granian", "granian")


@contextlib.contextmanager
def log_context(*, submission_id: str | None = None) -> Iterator[None]:
    """Within the block, every log line of this task or thread carries ``submission_id``."""
    token = SUBMISSION_ID.set(submission_id)
    try:
        yield
    finally:
        SUBMISSION_ID.reset(token)


def _job_ids() -> tuple[str | None, str | None]:
    """``(request_id, submission_id)`` of the RQ job this process is running, if any."""
    # A process that runs jobs has RQ loaded; importing it here would load it into the services too.
    rq = sys.modules.get("rq")
    if rq is None:
        return None, None
    try:
        job = rq.get_current_job()
    except Exception:  # no job context (not a worker, or RQ's local stack is empty)
        return None, None
    if job is None:
        return None, None
    request_id = job.meta.get("request_id") if isinstance(job.meta, dict) else None
    args = job.args if (job.func_name or "").startswith("worker.jobs.") else ()
    submission_id = args[0] if args and isinstance(args[0], str) else None
    return request_id, submission_id


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``submission_id`` to a record from the context, unless the call
    passed them in ``extra``; fields without a value are left out of the line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Always ``True``: the filter only adds fields."""
        request_id, submission_id = REQUEST_ID.get(), SUBMISSION_ID.get()
        if request_id is None or submission_id is None:
            job_request_id, job_submission_id = _job_ids()
            request_id = request_id or job_request_id
            submission_id = submission_id or job_submission_id
        if submission_id is None:
            found = _SUBMISSION_IN_TEXT.search(record.getMessage())
            submission_id = found.group(1) if found else None
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        if submission_id is not None and not hasattr(record, "submission_id"):
            record.submission_id = submission_id
        return True


# Line breaks and other control characters (C0, DEL, C1, and the Unicode line and paragraph
# separators some terminals and viewers break on) inside a message or a traceback would start a line
# that reads like a log line of its own (CWE-117): the text format writes them escaped.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The process of a granian worker or the internal listener that built no role of its own: the role
# of the last text formatter built in this process (each process is one role).
_role = "frontdesk"


def _escape(text: str) -> str:
    r"""``text`` on one line: each control character as its ``repr`` escape (``\n``, ``\x1b``)."""
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], text)


class TextFormatter(logging.Formatter):
    """``HH:MM:SS <role> <LEVEL> <message> [req <first 8 of the request id>]``, local time, one
    line per record: the traceback of an exception follows on the same line, escaped.

    ``role`` is the process's job (content, forms, worker); without one, the role of the last
    formatter built in this process.
    """

    def __init__(self, role: str | None = None) -> None:
        global _role
        super().__init__()
        if role:
            _role = role
        self.role = role or _role

    def format(self, record: logging.LogRecord) -> str:
        """The record's line, without the line break."""
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        line = (
            f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {self.role} "
            f"{record.levelname} {_escape(text)}"
        )
        request_id = getattr(record, "request_id", None)
        if request_id:
            # A client may choose its X-Request-ID (frontdesk.requestid allows no control
            # characters, but the worker reads it back from Redis): escaped like the message.
            line += f" [req {_escape(str(request_id))[:8]}]"
        return line


def dict_config(
    level: str = "INFO", log_format: LogFormat = "json", role: str | None = None
) -> dict[str, Any]:
    """The ``dictConfig`` of every process: the root logger writes one line per record to stderr at
    ``level``, JSON or text (:class:`TextFormatter`, with ``role`` as the process name).
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "frontdesk.logging.ContextFilter"}},
        "formatters": {
            "json": {
                # python-json-logger's msgspec backend: a third of the stdlib json backend's time
                # per line (9.5 against 28 µs measured), and the forms service logs a line per
                # accepted submission. Its times end in "Z" (RFC 3339 UTC).
                "()": "pythonjsonlogger.msgspec.MsgspecFormatter",
                "fmt": ["levelname", "name", "message", "process"],
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",
            },
            "text": {"()": "frontdesk.logging.TextFormatter", "role": role},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": log_format,
                "filters": ["context"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": "NOTSET"} for name in _THIRD_PARTY
        }
        # Access lines would repeat what the metrics count; they stay off.
        | {"granian.access": {"handlers": [], "propagate": False, "level": "CRITICAL"}},
    }


def configure(level: str = "INFO", log_format: LogFormat = "json", role: str | None = None) -> None:
    """Send every log line of this process, warnings included, to stderr at ``level``, in
    ``log_format`` (see :func:`dict_config`).
    """
    logging.config.dictConfig(dict_config(level, log_format, role))
    logging.captureWarnings(True)
