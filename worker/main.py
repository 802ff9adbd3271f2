"""``frontdesk worker``: one RQ worker with the scheduler, the JSON serializer and our connection.

Crash recovery (docs/worker.md, "Delivery state and guarantees"): a job whose worker died (SIGKILL,
OOM) stays in RQ's started registry until its heartbeat expires
(two ``FRONTDESK_WORKER_HEARTBEAT`` intervals),
the next maintenance run (every ``FRONTDESK_WORKER_MAINTENANCE_INTERVAL``) schedules its retry, and
the scheduler runs it after the first retry delay (``FRONTDESK_RETRY_BASE_SECONDS``). With the
defaults (30 s, 30 s, 60 s) a killed job runs again within 30 + 30 + 30 + 60 = 150 s. Each
maintenance run also runs :func:`worker.sweep.sweep` and queues the hourly digests of held posts
(:func:`worker.digest.queue_digests`).

Redis outages (``worker.outage``): every Redis client of the worker's processes waits for Redis instead
of failing, so the worker (same PID), its scheduler thread and a running job go on where they were
when Redis answers again; the outage is logged once, its end once. The worker exits only when asked
to (status 0) or when RQ's loop ends on an error it does not handle (status 1, see :func:`run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.client import Pipeline, PubSub, PubSubWorkerThread
from redis.retry import Retry
from rq import Queue, Worker, worker_registration
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import DeserializationError, StopRequested
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.scheduler import run as run_scheduler
from rq.serializers import JSONSerializer

from frontdesk.redis import connect
from frontdesk.settings import Settings
from worker.context import ContextWorker, JobContext
from worker.outage import FIRST_DELAY, RedisWatch, RideOut, install
from worker.pause import pause_point
from worker.smtp import DeliveryError, ProbeError, probe

log = logging.getLogger("frontdesk.worker")

SCHEDULER_STOP_WAIT = 10.0  # seconds a stopping worker waits for its scheduler's round to end


class StartError(Exception):
    """The worker's settings cannot work; the message names the settings involved."""


class LoopEnded(Exception):
    """RQ's work loop ended without a stop request (it quits on an error it does not handle)."""


class FrontdeskScheduler(RQScheduler):
    """RQ's scheduler, run in a thread of the worker's process (:meth:`start`) instead of a process
    of its own, whose client is the worker's (it waits out an outage, see ``worker.outage``);
    stopped during an outage, it ends without a traceback.
    """

    ride_out: RideOut | None = None
    # Builds the scheduler's own client (set by the worker).
    client: Callable[[], redis.Redis] | None = None

    @property
    def connection(self) -> redis.Redis:
        """The scheduler's client, built by :attr:`client` (Frontdesk's own connection factory).

        RQ rebuilds it from the worker's pool's arguments instead, as a plain ``ConnectionPool``: on
        a Sentinel client that is a pool of Sentinel-managed connections tied to the worker's
        pool through a weak proxy (or, with other redis-py versions, arguments a plain pool refuses:
        rq/rq#2379), which no longer follows the primary as a Sentinel pool does. Without
        :attr:`client`, RQ's own.
        """
        if self._connection is None:
            if self.client is None:
                return RQScheduler.connection.fget(self)  # type: ignore[attr-defined,no-any-return]
            self._connection = self.client()  # type: ignore[assignment]
        return self._connection  # type: ignore[return-value]

    def start(self) -> threading.Thread:
        """Run RQ's scheduling loop (one round a second: move due scheduled jobs, i.e. the retries,
        to the queue) in a daemon thread of this process; RQ forks a process for it, which would
        only wait. RQ's worker keeps the thread in ``_process``: its maintenance starts a new one
        when it has ended (an error it did not ride out), as it restarts a dead process.
        """
        self._status = self.Status.STARTED
        thread = threading.Thread(target=_schedule, args=(self,), name="scheduler", daemon=True)
        self._process = thread  # type: ignore[assignment]
        thread.start()
        return thread

    def _install_signal_handlers(self) -> None:
        """None: a thread cannot install signal handlers; the worker's stop the scheduler."""

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """SIGTERM/SIGINT: stop after this round; a wait for Redis gives up at its next attempt."""
        if self.ride_out is not None:
            self.ride_out.give_up()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def work(self) -> None:
        """RQ's scheduling loop, in the scheduler thread."""
        try:
            super().work()  # type: ignore[no-untyped-call]
        except redis.RedisError as exc:
            if not self._stop_requested:
                raise
            log.warning(
                "scheduler stopped while Redis was unreachable (%s); its lock expires by itself",
                type(exc).__name__,
            )


def _schedule(scheduler: FrontdeskScheduler) -> None:
    """The scheduler thread: RQ's ``run`` (it logs an error with its traceback, then raises it
    again), whose error ends the thread quietly: a thread's uncaught error would be printed a second
    time, outside the log format.
    """
    with contextlib.suppress(Exception):
        run_scheduler(scheduler)  # type: ignore[no-untyped-call]


class FrontdeskWorker(ContextWorker):
    """RQ's forking ``Worker`` handing its jobs their context (settings, forms, templates: see
    ``worker.context``, reloaded between jobs), with a configurable heartbeat grace, the sweep in
    its maintenance,
    jobs whose payload is not JSON failed with a log line instead of a crash, and Redis outages
    waited out (``ride_out``, shared with its scheduler and work horses).
    """

    frontdesk_settings: Settings
    ride_out: RideOut
    stop_requested = False
    recoveries_seen = 0

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """Seconds until an unrefreshed job counts as abandoned: the next heartbeat plus a grace of
        one more (RQ's own grace is a fixed 60 s, too long for recovery within 3 minutes).
        """
        interval = int(self.job_monitoring_interval)
        if job.timeout and job.timeout > 0:
            interval = int(min(job.timeout - working_time, interval))
        return max(interval, 1) + int(self.job_monitoring_interval)

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance (abandoned jobs retried, registries cleaned), then the sweep and the
        digests of held posts (:mod:`worker.digest`).
        """
        super().run_maintenance_tasks()
        from worker.sweep import sweep

        try:
            acted = sweep(self.connection, self.frontdesk_settings)
        except StopRequested:
            raise  # SIGTERM while the sweep ran: RQ's signal handler asks the loop to end
        except Exception:
            log.exception("the sweep failed; it runs again at the next maintenance")
        else:
            if acted:
                log.info("sweep: acted on %d message(s)", acted)
        from worker.digest import queue_digests

        try:
            queue_digests(self.connection, self.frontdesk_settings)
        except StopRequested:
            raise
        except redis.RedisError:
            pass  # Redis is away: the sweep's line above already says so; the next run catches up
        except Exception:
            log.exception("the held-posts digest failed; it runs again at the next maintenance")

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """RQ's loop, with the stop signals' handlers installed before it registers the worker and
        starts the scheduler: RQ installs them after both, so a SIGTERM while either waited for Redis
        ended the process by the signal's default action. A stop requested before the loop began
        tears the worker down as one requested in it.
        """
        self._install_signal_handlers()  # type: ignore[no-untyped-call]
        try:
            return bool(super().work(*args, **kwargs))
        except StopRequested:
            self.teardown()
            return False

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        """RQ 3.0's own, with :class:`FrontdeskScheduler` (RQ names its class inside the method)."""
        scheduler = FrontdeskScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        scheduler.ride_out = self.ride_out
        scheduler.client = functools.partial(
            connect, self.frontdesk_settings, socket_timeout=None, retry=self.ride_out
        )
        self.scheduler = scheduler
        scheduler.acquire_locks()  # type: ignore[no-untyped-call]
        if not scheduler.acquired_locks:
            return
        if not burst:
            scheduler.start()
            return
        try:
            scheduler.register_birth()
            scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
        finally:
            scheduler.release_locks()  # type: ignore[no-untyped-call]
            scheduler.register_death()

    def stop_scheduler(self) -> None:
        """Stop the scheduler thread after its current round (RQ's would SIGTERM a process) and wait
        for it at most :data:`SCHEDULER_STOP_WAIT` seconds: it is a daemon thread, so a round stuck
        on Redis does not keep the process from exiting.
        """
        scheduler = self.scheduler
        if scheduler is None:
            return
        RQScheduler.request_stop(scheduler)  # type: ignore[no-untyped-call]
        thread: Any = scheduler._process
        if isinstance(thread, threading.Thread) and thread.is_alive():
            thread.join(SCHEDULER_STOP_WAIT)

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat; the first after an outage also writes the worker's whole hash and its
        registration again: Redis expires the hash (worker_ttl + 60 s) during a long outage, and a
        heartbeat alone would leave one without name, host and queues (no worker for the health
        checks). Heartbeats inside a pipeline (during a job) are RQ's, which restores the hash itself.
        """
        super().heartbeat(timeout, pipeline)
        recoveries = self.ride_out.watch.recoveries
        if pipeline is not None or recoveries == self.recoveries_seen:
            return
        self.recoveries_seen = recoveries
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, mapping=self.serialize())
            pipe.expire(self.key, timeout or self.worker_ttl + 60)
            worker_registration.register(self, pipe)
            pipe.execute()

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: RQ's warm shutdown; a wait for Redis gives up at its next attempt."""
        self.stop_requested = True
        self.ride_out.give_up()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def teardown(self) -> None:
        """RQ's (stop the scheduler, register the worker's death), which may find Redis down."""
        self.ride_out.give_up()
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        except redis.RedisError as exc:
            log.warning(
                "worker stopped while Redis was unreachable (%s); its registration expires by itself",
                type(exc).__name__,
            )

    def _pubsub_exception_handler(
        self, exc: Exception, pubsub: PubSub, pubsub_thread: PubSubWorkerThread
    ) -> None:
        """A connection error of the command channel's thread outside its retries (its health-check
        ``PING`` on a connection a Redis restart closed): RQ logs a line and waits 2 s; here it waits
        a moment and says nothing, since the thread's next read reconnects through the ride-out
        (which logs a real outage once).
        """
        if isinstance(exc, redis.ConnectionError):
            time.sleep(FIRST_DELAY)
            return
        super()._pubsub_exception_handler(exc, pubsub, pubsub_thread)

    def execute_job(self, job: Job, queue: Queue) -> Any:
        """Run ``job``, unless its payload cannot be decoded as JSON (a pickle-based producer, a
        hand-written entry): then it is moved to the failed registry with a log line naming it.
        """
        pause_point(self.frontdesk_settings.drill_pause_dir, "dequeued")
        try:
            job.func_name  # noqa: B018 - decodes the payload
        except DeserializationError:
            log.error(
                "job %s on queue %s is not valid JSON; moved to the failed jobs, not run",
                job.id,
                queue.name,
            )
            job.retries_left = 0
            self.handle_job_failure(
                job, queue=queue, exc_string="payload is not valid JSON (DeserializationError)"
            )
            # RQ takes a job off its intermediate queue only when it starts running it.
            queue.intermediate_queue.remove(job.id)
            return None
        return super().execute_job(job, queue)


def check_start(settings: Settings) -> None:
    """Refuse SMTP settings that cannot work; raises :class:`StartError` naming them.

    Port 465 with a security other than ``tls`` is refused by settings already; here: a CA file that
    does not exist, a CA file without TLS, and a username without a password (or the reverse).
    """
    problems: list[str] = []
    ca = settings.smtp_ca_file
    if ca is not None and not Path(ca).is_file():
        problems.append(f"FRONTDESK_SMTP_CA_FILE: {ca} is not a readable file")
    if ca is not None and settings.smtp_security == "none":
        problems.append(
            "FRONTDESK_SMTP_CA_FILE is set but FRONTDESK_SMTP_SECURITY is 'none': "
            "set FRONTDESK_SMTP_SECURITY to starttls or tls"
        )
    if settings.smtp_port == 587 and settings.smtp_security == "tls":
        problems.append(
            "FRONTDESK_SMTP_PORT 587 is the submission port with STARTTLS but "
            "FRONTDESK_SMTP_SECURITY is 'tls' (implicit TLS, port 465): set it to starttls"
        )
    if (settings.smtp_username is None) != (settings.smtp_password is None):
        problems.append("FRONTDESK_SMTP_USERNAME and FRONTDESK_SMTP_PASSWORD must be set together")
    if problems:
        raise StartError("\n".join(problems))


def build_worker(settings: Settings) -> FrontdeskWorker:
    """A :class:`FrontdeskWorker` on ``settings.queue_name``; RQ's own URL variable is never read.

    The connection has no socket timeout: the worker blocks on its queue between maintenance runs.
    Its retry policy waits out Redis outages; it is installed before anything forks, so the
    scheduler, the work horses and their jobs' clients share it (``worker.outage``).
    """
    ride_out = RideOut(RedisWatch(), settings.worker_reconnect_max)
    install(ride_out)
    connection = connect(settings, socket_timeout=None, retry=ride_out)
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    interval = max(1, int(settings.worker_maintenance_interval))
    worker = FrontdeskWorker(
        [queue],
        connection=connection,
        serializer=JSONSerializer,
        maintenance_interval=interval,
        job_monitoring_interval=max(1, int(settings.worker_heartbeat)),
        # RQ blocks on the queue for worker_ttl - 15 s and runs maintenance only in between.
        worker_ttl=min(420, interval + 15),
        log_job_description=False,
    )
    worker.frontdesk_settings = settings
    worker.ride_out = ride_out
    worker.context = build_context(settings)
    return worker


def build_context(settings: Settings) -> JobContext:
    """The jobs' context, built once in the parent process, with the jobs' modules imported: RQ
    forks a work horse per job, which starts with all of it ready instead of redoing it every job.
    """
    import worker.buildhooks
    import worker.digest
    import worker.jobs  # noqa: F401

    return JobContext.build(settings)


class _Stopped(Exception):
    """SIGTERM or SIGINT before RQ's own handlers took over (:meth:`FrontdeskWorker.work`)."""


def _stop_by_raising() -> None:
    """Until the worker works, SIGTERM and SIGINT raise :class:`_Stopped` instead of ending the
    process by their default action: building the RQ worker asks Redis, and waits for it during an
    outage (``worker.outage``), and a stop then is a stop (exit status 0).
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stopped

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)


def run(settings: Settings, *, burst: bool = False) -> bool:
    """Work until stopped (or, with ``burst``, until the queue is empty); always with the scheduler,
    since retries with an interval run only under it. Raises :class:`StartError` on bad settings and
    :class:`LoopEnded` when RQ's loop ended on an error (RQ logs it with its traceback): the process
    then exits non-zero, so honcho, compose or Kubernetes restart it.
    """
    check_start(settings)
    try:
        log.info("relay: %s", asyncio.run(probe(settings)))
    except ProbeError as exc:
        raise StartError(str(exc)) from exc
    except DeliveryError as exc:
        # A relay that is down now may be up later; jobs wait for it with their retries.
        log.warning("relay not reachable at start (%s); starting anyway", exc)
    _stop_by_raising()
    try:
        worker = build_worker(settings)
        worker.context.watch()
        log.info("worker %s listening on queue %s", worker.name, settings.queue_name)
        worked = bool(
            worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
        )
    except _Stopped:
        log.warning("worker stopped while starting, before it registered")
        return False
    if not burst and not worker.stop_requested:
        raise LoopEnded(
            "the worker stopped on an error (logged above); exit status 1, so that a supervisor "
            "restarts it"
        )
    return worked


def healthy_workers(settings: Settings, hostname: str | None = None) -> list[str]:
    """Names of the workers on ``hostname`` (default this host) whose heartbeat is fresh, i.e. not
    older than the maintenance interval plus 60 s (RQ beats at least once per dequeue wait).

    Raises ``redis.ConnectionError`` or ``redis.TimeoutError`` at once when Redis does not answer (one
    attempt: a probe has seconds, not redis-py's ten retries).
    """
    connection = connect(settings, retry=Retry(NoBackoff(), 0))
    host = hostname or socket.gethostname()
    limit = min(420, max(1, int(settings.worker_maintenance_interval)) + 15) + 60
    names = []
    for worker in Worker.all(connection=connection, serializer=JSONSerializer):
        beat = worker.last_heartbeat
        if worker.hostname == host and beat is not None and time.time() - beat.timestamp() < limit:
            names.append(str(worker.name))
    return names
