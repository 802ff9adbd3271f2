"""The failure-drill harness: a private Redis, the real forms service and worker, a controllable SMTP
server, a load of valid submissions and the end-of-drill accounting.

Every drill starts its own ``redis-server`` (AOF, ``appendfsync always``, a temporary directory, a free
port), so it can be SIGKILLed without touching the shared test Redis. The forms service and the worker
are the real console scripts (``frontdesk serve forms``, ``frontdesk worker``), each in its own process
group so a kill takes the worker's work horse and scheduler with it, like a crashed container. The
worker is supervised: when it exits on its own (RQ quits on some Redis errors) it is restarted after a
second, as ``restart: unless-stopped`` does in docker compose, and the restart is counted.

The SMTP server is aiosmtpd's in-process ``Controller`` with a handler the drill steers: it can be
stopped (connections refused) and started again on the same port, or answer 421 to every n-th message,
quoting the message's Reply-To and Subject as content-filtering relays do. Accepted messages are
indexed by Message-ID, so a repeated delivery is counted as a duplicate.

Every submission carries canary values (:class:`Canaries`) unique to the drill: name, email local part
and domain, phone as typed, message. When the drill ends, :func:`assert_no_canary` greps every line
the stack's processes wrote for them (and for the phone in E.164): visitor data never reaches a log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import msgspec
import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from rq import Queue
from rq.intermediate_queue import IntermediateQueue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from frontdesk.submissions.keys import submission_key
from frontdesk.submissions.record import Submission
from tests.conftest import clinic_site_copy, free_port
from tests.processes import FRONTDESK, frontdesk_env, start, stop

QUEUE = "frontdesk"
STAFF_DOMAIN = "clinic.example"


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class DrillRedis:
    """A private ``redis-server`` with AOF and ``appendfsync always`` in ``directory``.

    ``kill()`` is SIGKILL (no shutdown save); ``start()`` again replays the AOF from the same directory
    on the same port.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)

    def start(self) -> None:
        argv = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            str(self.directory / "redis.log"),
        ]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client()

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        if not wait_until(answers, 15):
            raise AssertionError(f"drill redis-server on port {self.port} did not come up")
        client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None


class Supervised:
    """One real process in its own process group, logging to ``log``; optionally respawned.

    ``kill()`` SIGKILLs the whole group (no respawn for that exit); with ``respawn``, an exit the
    drill did not cause is followed by a restart one second later, counted in ``unplanned_exits``.
    """

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path, respawn: bool):
        self.name = name
        self.argv = argv
        self.env = env
        self.logs = logs
        self.respawn = respawn
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        self.unplanned_exits = 0
        self._lock = threading.Lock()
        self._stopping = False
        self._monitor: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            self._spawn()
        if self.respawn and self._monitor is None:
            self._monitor = threading.Thread(target=self._watch, name=f"{self.name}-monitor")
            self._monitor.daemon = True
            self._monitor.start()

    def _spawn(self) -> None:
        self.starts += 1
        log = self.logs / f"{self.name}.{self.starts}.log"
        self.process = start(self.argv, self.env, log, new_session=True)

    def _watch(self) -> None:
        while not self._stopping:
            time.sleep(0.2)
            with self._lock:
                process = self.process
                if self._stopping or process is None or process.poll() is None:
                    continue
                self.unplanned_exits += 1
            time.sleep(1.0)
            with self._lock:
                if not self._stopping and self.process is process:
                    self._spawn()

    def kill(self) -> None:
        """SIGKILL the process group, as a crash or the OOM killer of a container would."""
        with self._lock:
            if self.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                self.kills += 1
                self.process = None

    def restart(self) -> None:
        with self._lock:
            self._spawn()

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL what is left after 10 s."""
        self._stopping = True
        with self._lock:
            process, self.process = self.process, None
        if process is not None:
            stop(process, group=True)


class DrillSmtp:
    """aiosmtpd server on a fixed port whose behaviour the drill steers.

    ``refuse()`` stops the listener (clients get ECONNREFUSED), ``accept()`` starts it again on the
    same port. ``temporary_failure_every = n`` answers ``421`` to every n-th DATA. Accepted messages
    are counted per Message-ID in ``accepted``.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.accepted: Counter[str] = Counter()
        self.temporary_failure_every: int | None = None
        self.data_commands = 0
        self.temporary_failures = 0
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        with self._lock:
            self.data_commands += 1
            every = self.temporary_failure_every
            message = message_from_bytes(envelope.original_content or b"", policy=policy.default)
            if every and self.data_commands % every == 0:
                self.temporary_failures += 1
                # As a content filter answers: naming the message (visitor data) in the reply.
                reply_to, subject = message["Reply-To"], message["Subject"]
                return f"421 4.3.0 Drill: try again later ({subject!r} from <{reply_to}>)"
            self.accepted[str(message["Message-ID"])] += 1
        return "250 2.0.0 Accepted"

    def accept(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def refuse(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def count(self, message_id: str) -> int:
        with self._lock:
            return self.accepted[message_id]


@dataclass(frozen=True)
class Canary:
    """The visitor values of one canary submission (what the contact form asks for)."""

    name: str
    email: str
    phone: str
    phone_e164: str
    message: str

    def fields(self) -> dict[str, str]:
        """The form post: ``name``, ``email``, ``phone``, ``message``."""
        return {
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "message": self.message,
        }

    def needles(self) -> dict[str, str]:
        """What must never appear in process output: label → value. The email's local part and
        domain are looked for on their own, the phone as typed and in E.164 (with and without +)."""
        local, _, domain = self.email.partition("@")
        return {
            "name": self.name,
            "email local part": local,
            "email domain": domain,
            "phone as typed": self.phone,
            "phone in E.164": self.phone_e164,
            "phone in E.164 digits": self.phone_e164.lstrip("+"),
            "message": self.message,
            "message's first line": self.message.split("\n")[0],
        }


class Canaries:
    """Valid contact-form submissions whose visitor values appear nowhere but in what was sent.

    Each value carries ``tag`` (random per instance) and the submission's index, so finding one in
    a log can only mean visitor data got there. ``submission(i)`` makes and remembers submission
    ``i``; :func:`assert_no_canary` checks output against every submission made.
    """

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag or uuid.uuid4().hex[:10]
        self.made: dict[int, Canary] = {}
        # One exchange per drill: the phone differs between drills, not only by index.
        self._exchange = 200 + int(self.tag, 16) % 800

    def canary(self, index: int) -> Canary:
        if index not in self.made:
            tag = self.tag
            self.made[index] = Canary(
                name=f"Ada Canary-{tag}-{index}",
                email=f"cl-{tag}-{index}@cd-{tag}-{index}.example.com",
                phone=f"+1 (415) {self._exchange}-{index % 10000:04d}",
                phone_e164=f"+1415{self._exchange}{index % 10000:04d}",
                message=f"cm-{tag}-{index}: knee pain since {uuid.uuid4().hex[:12]}\nthanks",
            )
        return self.made[index]

    def submission(self, index: int) -> dict[str, str]:
        """The form post of canary ``index`` (made on first use)."""
        return self.canary(index).fields()

    def leaks(self, output: str) -> list[str]:
        """``"<label> <value>"`` for every canary value found in ``output``."""
        return [
            f"{label} {value!r}"
            for canary in self.made.values()
            for label, value in canary.needles().items()
            if value in output
        ]


def process_output(*directories: Path) -> str:
    """Everything in the files under ``directories`` (process logs), as text."""
    return "\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for directory in directories
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    )


def assert_no_canary(canaries: Canaries, output: str) -> None:
    """Fail when ``output`` holds any value of any submission ``canaries`` made."""
    leaks = canaries.leaks(output)
    assert not leaks, f"visitor data in process output: {leaks[:10]} ({len(leaks)} in all)"


@dataclass
class Sent:
    """One submission of the load: index, HTTP status (0: no answer), id when 201, the times (s since
    the drill began) the request started and ended, and the problem code of an error answer."""

    index: int
    status: int
    submission_id: str | None
    at: float
    done: float
    problem_code: str | None = None


@dataclass
class DrillReport:
    """What a drill observed; ``summary()`` is printed at the end of the pytest run."""

    name: str
    sent: list[Sent] = field(default_factory=list)
    duplicates: int = 0
    extra_messages: int = 0
    missing_email: list[str] = field(default_factory=list)
    missing_record: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    worker_kills: int = 0
    jobs_abandoned: int = 0
    redis_kills: int = 0
    worker_unplanned_exits: int = 0
    temporary_failures: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def accepted_ids(self) -> list[str]:
        return [s.submission_id for s in self.sent if s.status == 201 and s.submission_id]

    def summary(self) -> str:
        codes = Counter(s.status for s in self.sent)
        answers = ", ".join(f"{code}: {n}" for code, n in sorted(codes.items()))
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items()))
        text = (
            f"{self.name}: {len(self.sent)} sent ({answers}); records missing "
            f"{len(self.missing_record)}, emails missing {len(self.missing_email)}; duplicates "
            f"{self.duplicates} (worker kills {self.worker_kills} with {self.jobs_abandoned} jobs "
            f"running, redis kills {self.redis_kills}); "
            f"emails for unanswered submissions {self.extra_messages}; worker restarts after "
            f"unplanned exits {self.worker_unplanned_exits}; 421 answers {self.temporary_failures}; "
            f"record statuses: {statuses}; {self.seconds:.1f} s"
        )
        return text + "".join(f"\n    note: {n}" for n in self.notes)


REPORTS: list[DrillReport] = []


class Drill:
    """The stack of one drill under ``tmp``: Redis, SMTP, forms service, supervised worker."""

    def __init__(self, name: str, tmp: Path, extra_env: dict[str, str] | None = None) -> None:
        self.started = time.monotonic()
        self.report = DrillReport(name)
        self.logs = tmp / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis = DrillRedis(tmp / "redis")
        self.smtp = DrillSmtp()
        self.canaries = Canaries()
        self.forms_port = free_port()
        env = frontdesk_env(
            {
                "FRONTDESK_REDIS_URL": self.redis.url,
                # The relay quotes the staff email's Reply-To and Subject (visitor data the logs
                # must not hold): a full one (the clinic's contact form sends a summary).
                "FRONTDESK_SITE_DIR": str(clinic_site_copy(tmp / "site")),
                "FRONTDESK_FORMS_PORT": str(self.forms_port),
                "FRONTDESK_FORMS_PUBLIC_URL": f"http://127.0.0.1:{self.forms_port}",
                "FRONTDESK_SMTP_PORT": str(self.smtp.port),
                "FRONTDESK_SMTP_TIMEOUT": "5",
                "FRONTDESK_RATE_LIMITS": "off",
                # Short mechanisms so a drill takes a minute or two, never skipped: retries start
                # after 1 s and double for 3 minutes; RQ's maintenance (abandoned-job recovery,
                # scheduler lock re-acquisition) runs every 2 s instead of 10 minutes.
                "FRONTDESK_RETRY_BASE_SECONDS": "1",
                "FRONTDESK_RETRY_MAX_HOURS": "0.05",
                "FRONTDESK_WORKER_MAINTENANCE_INTERVAL": "2",
                "FRONTDESK_JOB_TIMEOUT": "30",
                "FRONTDESK_LOG_LEVEL": "INFO",
            }
        )
        env.update(extra_env or {})
        self.env = env
        self.forms = Supervised(
            "forms", [FRONTDESK, "serve", "forms"], env, self.logs, respawn=False
        )
        self.worker = Supervised("worker", [FRONTDESK, "worker"], env, self.logs, respawn=True)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.forms_port}", timeout=15)

    # -- lifecycle -------------------------------------------------------------------------------

    def up(self) -> None:
        self.redis.start()
        self.smtp.accept()
        self.forms.start()
        self.worker.start()

        def ready() -> bool:
            try:
                return self.http.get("/health/ready").status_code == 200
            except httpx.HTTPError:
                return False

        if not wait_until(ready, 30):
            raise AssertionError(f"forms service did not become ready; logs in {self.logs}")

    def down(self) -> None:
        self.http.close()
        self.worker.stop()
        self.forms.stop()
        self.smtp.refuse()
        self.redis.kill()

    # -- faults ----------------------------------------------------------------------------------

    def kill_worker(self) -> bool:
        """SIGKILL the worker's process group while its work horse runs a job (waiting up to 10 s
        for one to start), so the kill abandons a job; returns whether one was running."""
        client = self.redis.client()
        started = rq_keys(client).started
        running = wait_until(lambda: bool(client.zcard(started)), 10, interval=0.005)
        client.close()
        self.worker.kill()
        self.report.worker_kills += 1
        self.report.jobs_abandoned += running
        return running

    def restart_worker(self) -> None:
        self.worker.restart()

    def kill_redis(self) -> None:
        self.redis.kill()
        self.report.redis_kills += 1

    # -- load ------------------------------------------------------------------------------------

    def submission(self, index: int) -> dict[str, str]:
        """A valid inquiry of canary values; the message is unique so duplicate detection never
        merges two."""
        return self.canaries.submission(index)

    def send(self, index: int) -> Sent:
        at = time.monotonic() - self.started
        try:
            response = self.http.post(
                "/v1/forms/contact/submissions",
                json=self.submission(index),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            self.report.notes.append(f"submission {index}: no answer ({type(exc).__name__})")
            return Sent(index, 0, None, at, time.monotonic() - self.started)
        problem = response.headers.get("content-type", "").startswith("application/problem+json")
        body: dict[str, Any] = response.json() if response.content else {}
        submission_id = body.get("id") if response.status_code == 201 else None
        done = time.monotonic() - self.started
        code = body.get("code") if problem else None
        return Sent(index, response.status_code, submission_id, at, done, code)

    def run_load(
        self,
        count: int = 200,
        pause: float = 0.04,
        faults: dict[int, Callable[[], None]] | None = None,
    ) -> list[Sent]:
        """Send ``count`` submissions one after another, ``pause`` s apart; before submission ``i``
        start ``faults[i]`` in a thread (so a 5 s outage does not stop the load)."""
        threads: list[threading.Thread] = []
        for index in range(count):
            action = (faults or {}).get(index)
            if action is not None:
                thread = threading.Thread(target=action, name=f"fault-{index}")
                thread.start()
                threads.append(thread)
            self.report.sent.append(self.send(index))
            time.sleep(pause)
        for thread in threads:
            thread.join()
        return self.report.sent

    # -- accounting ------------------------------------------------------------------------------

    def _queue_state(self, client: redis.Redis) -> tuple[int, ...]:
        """Jobs waiting, being handed over, running and scheduled in RQ; (-1,) when Redis is down.

        Raw reads: RQ's own ``count()`` would run registry cleanup, doing the worker's job.
        """
        keys = rq_keys(client)
        try:
            pipe = client.pipeline(transaction=False)
            pipe.llen(keys.queue)
            pipe.llen(keys.intermediate)
            pipe.zcard(keys.started)
            pipe.zcard(keys.scheduled)
            return tuple(int(n) for n in pipe.execute())
        except redis.RedisError:
            return (-1,)

    def settle(self, stall: float = 120.0, limit: float = 420.0) -> None:
        """Wait until every 201 has its staff email and RQ holds no more work (late duplicates of a
        recovered job arrive before that).

        Gives up when nothing moved (no new email, no change in RQ's queue, registries) for
        ``stall`` s, longer than RQ's abandoned-job recovery (61 s heartbeat + maintenance) plus
        the longest backoff a drill reaches, or after ``limit`` s in all: a slow, shared machine
        only makes a drill longer, a lost job makes it fail.
        """
        ids = self.report.accepted_ids
        client = self.redis.client()
        started = last_move = time.monotonic()
        last_state: tuple[int, ...] = ()
        while True:
            emailed = sum(1 for i in ids if self.smtp.count(staff_message_id(i)))
            state = (emailed, sum(self.smtp.accepted.values()), *self._queue_state(client))
            if emailed == len(ids) and not any(state[2:]):
                break
            now = time.monotonic()
            if state != last_state:
                last_state, last_move = state, now
            if now - last_move > stall or now - started > limit:
                self.report.notes.append(f"gave up waiting; last state {state}")
                break
            time.sleep(0.5)
        client.close()

    def account(self) -> DrillReport:
        """Fill the report: records and emails per 201, duplicates, stray emails, record statuses."""
        report = self.report
        client = self.redis.client()
        for submission_id in report.accepted_ids:
            raw = client.get(submission_key(submission_id))
            if raw is None:
                report.missing_record.append(submission_id)
            else:
                record = msgspec.json.decode(raw, type=Submission)
                report.statuses[record.status] += 1
            if not self.smtp.count(staff_message_id(submission_id)):
                report.missing_email.append(submission_id)
        client.close()
        report.duplicates = sum(n - 1 for n in self.smtp.accepted.values() if n > 1)
        # Message-IDs are <submission id>.<kind>@domain: an email of any kind (an auto-reply too)
        # for a submission that never got a 201 is counted, one that did is not.
        accepted = set(report.accepted_ids)
        report.extra_messages = sum(
            1 for mid in self.smtp.accepted if mid.strip("<>").split(".")[0] not in accepted
        )
        report.worker_unplanned_exits = self.worker.unplanned_exits
        report.temporary_failures = self.smtp.temporary_failures
        report.seconds = time.monotonic() - self.started
        return report


@dataclass(frozen=True)
class RqKeys:
    """Redis keys of RQ's queue, intermediate list and started/scheduled registries."""

    queue: str
    intermediate: str
    started: str
    scheduled: str


def rq_keys(client: redis.Redis) -> RqKeys:
    """The keys RQ uses for ``QUEUE``, from RQ itself (building registries runs no cleanup)."""
    queue = Queue(QUEUE, connection=client)
    return RqKeys(
        queue=queue.key,
        intermediate=IntermediateQueue.get_intermediate_queue_key(queue.key),
        started=StartedJobRegistry(queue=queue).key,
        scheduled=ScheduledJobRegistry(queue=queue).key,
    )


def staff_message_id(submission_id: str) -> str:
    """The Message-ID the worker gives the staff email of a submission (docs/worker.md)."""
    return f"<{submission_id}.staff@{STAFF_DOMAIN}>"


@contextlib.contextmanager
def drill(name: str, tmp: Path, extra_env: dict[str, str] | None = None) -> Iterator[Drill]:
    """A running drill stack; its report is kept for the end-of-run summary even when it fails.

    After the block, with the processes stopped, their whole output is checked for the canaries.
    """
    stack = Drill(name, tmp, extra_env)
    try:
        stack.up()
        yield stack
    finally:
        stack.report.seconds = time.monotonic() - stack.started
        stack.report.notes.append(f"logs: {stack.logs} ({dt.datetime.now(dt.UTC):%H:%M:%S})")
        REPORTS.append(stack.report)
        stack.down()
    assert_no_canary(stack.canaries, process_output(stack.logs))
