"""The Redis host dies: a Sentinel failover under a steady stream of submissions.

Three ``redis-server`` (a primary and two replicas, AOF ``appendfsync always``) and three sentinels
(quorum 2) on loopback ports; the real forms service and worker with
``FRONTDESK_REDIS_SENTINELS`` and ``FRONTDESK_REDIS_MIN_REPLICAS=1``; the drill's aiosmtpd relay.
The visitor's side is a loop posting one inquiry after another, each with its own
``Idempotency-Key``, and posting it again (same key, same body) after a 503, as a visitor pressing
"Send" again would, until it is accepted. The drill retries after 0.25 s instead of the
``Retry-After`` (2 or 5 s) to measure the gap finely.

Phase 1: the primary is SIGKILLed mid-stream. Every 201 gets its staff email, once (a second copy only
for a message whose send straddled the kill: docs/operations.md, Redis); nothing is emailed for a post
that was never answered 201 but the ones retried into a 201; the forms service and the worker keep
their process ids (and their children); 201s come again within 30 s of the kill.

Phase 2: both replicas of the new primary are SIGKILLed. Submissions are answered 503
``not_replicated`` with ``Retry-After`` (stored on the primary, never acknowledged), and once a replica
is back the visitor's retry of each is answered 201 with the first id, emailed once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from aiosmtpd.smtp import Envelope

from tests.drills.harness import (
    REPORTS,
    Drill,
    DrillSmtp,
    Sent,
    assert_no_canary,
    process_output,
    wait_until,
)
from tests.drills.sentinels import Node, Topology
from tests.drills.stack import descendants

pytestmark = [pytest.mark.e2e, pytest.mark.drill, pytest.mark.timeout(400)]

RETRY = 0.25  # s between a 503 and the visitor's retry
PAUSE = 0.05  # s between two inquiries
ACCEPTING_AGAIN = 30.0  # s after the kill by which new posts must be answered 201


class TimedSmtp(DrillSmtp):
    """The drill's relay, noting when each Message-ID first arrived (s since ``epoch``)."""

    def __init__(self, epoch: float) -> None:
        super().__init__()
        self.epoch = epoch
        self.first: dict[str, float] = {}

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        for message_id in self.accepted:
            self.first.setdefault(message_id, time.monotonic() - self.epoch)
        return answer


class Primary:
    """What the drill harness calls its Redis: here the topology, its client the current primary's."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.url = "redis://127.0.0.1:1/0"  # replaced by the sentinel settings

    def start(self) -> None:
        self.topology.up()

    def kill(self) -> None:
        self.topology.down()

    def client(self) -> redis.Redis:
        primary = self.topology.primary()
        assert primary is not None, "no primary"
        return primary.client()


class FailoverDrill(Drill):
    """The drill stack on a Sentinel topology, with MIN_REPLICAS=1."""

    smtp: TimedSmtp

    def __init__(self, name: str, tmp: Path) -> None:
        super().__init__(name, tmp, {"FRONTDESK_REDIS_MIN_REPLICAS": "1"})
        self.topology = Topology(tmp / "topology", replicas=2, sentinels=3, quorum=2)
        self.redis = Primary(self.topology)  # type: ignore[assignment]
        self.env.update(self.topology.settings())
        self.env["FRONTDESK_WORKER_RECONNECT_MAX"] = "1"
        self.env["PYTHONFAULTHANDLER"] = "1"
        self.smtp = TimedSmtp(self.started)
        self.env["FRONTDESK_SMTP_PORT"] = str(self.smtp.port)
        self.keys: dict[int, str] = {}

    def post(self, index: int) -> Sent:
        """Post inquiry ``index`` once, with its own Idempotency-Key (the same on every retry)."""
        key = self.keys.setdefault(index, uuid.uuid4().hex)
        at = time.monotonic() - self.started
        try:
            response = self.http.post(
                "/v1/forms/contact/submissions",
                json=self.submission(index),
                headers={"Accept": "application/json", "Idempotency-Key": key},
            )
        except httpx.HTTPError:
            return Sent(index, 0, None, at, time.monotonic() - self.started)
        body: dict[str, Any] = response.json() if response.content else {}
        done = time.monotonic() - self.started
        sent = Sent(index, response.status_code, body.get("id"), at, done, body.get("code"))
        if response.status_code == 503:
            assert response.headers.get("Retry-After", "").isdigit(), "a 503 without Retry-After"
        if response.status_code != 201:
            sent.submission_id = None
        return sent

    def visitor(self, index: int, give_up: float = 60.0) -> list[Sent]:
        """Post ``index`` until it is answered 201 (or ``give_up`` s pass); every answer."""
        answers = [self.post(index)]
        deadline = time.monotonic() + give_up
        while answers[-1].status != 201 and time.monotonic() < deadline:
            assert answers[-1].status in (0, 503), f"answer {answers[-1]}"
            time.sleep(RETRY)
            answers.append(self.post(index))
        self.report.sent += answers
        return answers

    def idle_family(self) -> dict[str, set[int]] | None:
        """The pids of the forms service and the worker, each with its children, while RQ holds no
        job (no work horse among them); None while it holds one.
        """
        client = self.redis.client()
        try:
            if any(self._queue_state(client)[:3]):
                return None
        finally:
            client.close()
        found: dict[str, set[int]] = {}
        for name, supervised in (("forms", self.forms), ("worker", self.worker)):
            assert supervised.process is not None
            pid = supervised.process.pid
            found[name] = {pid, *descendants(pid)}
        return found

    def kill_primary(self, times: dict[str, float]) -> None:
        """SIGKILL the primary; note when, and when the sentinels name another (s since start)."""
        first = self.topology.primary()
        assert first is not None
        first.kill()
        self.report.redis_kills += 1
        times["kill"] = time.monotonic() - self.started
        if wait_until(lambda: self.topology.primary() not in (first, None), 30, interval=0.05):
            times["promoted"] = time.monotonic() - self.started


def test_sentinel_failover_loses_no_acknowledged_inquiry(tmp_path: Path) -> None:
    stack = FailoverDrill("Sentinel failover: primary SIGKILLed, then both replicas", tmp_path)
    REPORTS.append(stack.report)
    try:
        stack.up()
        assert wait_until(lambda: stack.idle_family() is not None, 20)
        family = stack.idle_family()
        assert stack.topology.primary() is stack.topology.nodes[0]

        # Phase 1: a steady stream; the primary dies 4 s into it, wherever a request is.
        times: dict[str, float] = {}
        killer = threading.Timer(4.0, stack.kill_primary, args=(times,))
        killer.start()
        index = 0
        while "kill" not in times or time.monotonic() - stack.started - times["kill"] < 12.0:
            stack.visitor(index)
            index += 1
            time.sleep(PAUSE)
        killer.join()
        kill_at = times["kill"]
        assert "promoted" in times, "the sentinels promoted no replica"
        sent = stack.report.sent
        first_201 = min((s.done for s in sent if s.at > kill_at and s.status == 201), default=None)
        assert first_201 is not None, "nothing accepted after the kill"
        assert first_201 - kill_at < ACCEPTING_AGAIN, f"201 only {first_201 - kill_at:.1f} s after"
        refused = [s for s in sent if s.status != 201]
        stack.report.notes.append(
            f"phase 1: {index} inquiries, {len(sent)} posts; primary killed at {kill_at:.1f} s, "
            f"a replica promoted {times['promoted'] - kill_at:.1f} s later, first 201 again "
            f"{first_201 - kill_at:.1f} s after the kill, last non-201 "
            f"{max((s.done for s in refused), default=kill_at) - kill_at:.1f} s after; "
            f"non-201 answers: {sorted(_codes(refused).items())}"
        )

        # Phase 2: the new primary loses both replicas; posts are 503 not_replicated.
        primary = stack.topology.primary()
        assert primary is not None
        replicas = [n for n in stack.topology.nodes if n is not primary and n.running]
        assert wait_until(lambda: _linked(primary) == len(replicas), 30), "replicas not linked"
        for node in replicas:
            node.kill()
        index_key = "frontdesk:form:contact:submissions"
        before = set(primary.client().zrange(index_key, 0, -1))
        unconfirmed = [stack.post(index + i) for i in range(3)]
        stack.report.sent += unconfirmed
        assert [s.problem_code for s in unconfirmed] == ["not_replicated"] * 3, unconfirmed
        # One record per inquiry: the 503s of the failover were retried into the same one.
        stored = primary.client().zcard(index_key)
        assert stored == index + 3, f"{stored} records for {index + 3} inquiries"
        kept = {i.decode() for i in set(primary.client().zrange(index_key, 0, -1)) - before}
        assert len(kept) == 3, "the unconfirmed posts are not stored on the primary"
        back = replicas[0]
        back.start()
        back.client().replicaof("127.0.0.1", primary.port)
        assert wait_until(lambda: _linked(primary) == 1, 30), "the replica did not come back"
        retried = set()
        for i in range(3):
            answers = stack.visitor(index + i)
            assert len(answers) == 1, "the retry after the replica came back was not accepted"
            assert answers[0].status == 201
            retried.add(answers[0].submission_id)
        assert retried == kept, "a retry was not answered with the submission first stored"
        index += 3
        stack.report.notes.append(
            "phase 2: both replicas killed: 3 posts answered 503 not_replicated with Retry-After, "
            "their retries 201 with the same ids once a replica was back"
        )

        stack.settle(stall=60, limit=180)
        report = stack.account()
        if report.missing_email and stack.worker.process is not None:
            # Where the worker waits, in its log (PYTHONFAULTHANDLER): SIGABRT dumps every thread.
            os.kill(stack.worker.process.pid, signal.SIGABRT)
        assert report.missing_record == [], "201 answers without a stored submission"
        assert report.missing_email == [], "201 answers without a staff email"
        # Every inquiry was retried into a 201: no email for a submission never answered 201.
        assert report.extra_messages == 0, f"{report.extra_messages} emails for unanswered posts"
        duplicated = {m: stack.smtp.first[m] for m, n in stack.smtp.accepted.items() if n > 1}
        straddling = {m: t for m, t in duplicated.items() if abs(t - kill_at) < 2.0}
        assert duplicated == straddling, f"duplicates not sent around the kill: {duplicated}"
        assert stack.worker.unplanned_exits == 0, "the worker exited"
        assert stack.idle_family() == family, "the forms service or the worker was replaced"
        # SIGTERM after the failover: a warm shutdown at once, its death registered.
        began = time.monotonic()
        stack.worker.stop()
        stopped = time.monotonic() - began
        assert stopped < 10, f"the worker took {stopped:.1f} s to stop"
        lines = process_output(stack.logs).splitlines()
        assert not [line for line in lines if "worker stopped while Redis" in line]
        stack.report.notes.append(
            f"{len(report.accepted_ids)} accepted, each emailed; duplicates {report.duplicates} "
            f"(sent within 2 s of the kill: {len(straddling)}); worker stopped in {stopped:.1f} s"
        )
    finally:
        stack.report.seconds = time.monotonic() - stack.started
        stack.report.notes.append(f"logs: {stack.logs}")
        stack.down()
    assert_no_canary(stack.canaries, process_output(stack.logs))


def _codes(sent: list[Sent]) -> dict[str, int]:
    codes: dict[str, int] = {}
    for s in sent:
        name = f"{s.status} {s.problem_code or ''}".strip()
        codes[name] = codes.get(name, 0) + 1
    return codes


def _linked(primary: Node) -> int:
    """Replicas of ``primary`` in sync (``state=online``)."""
    info = primary.client().info("replication")
    return sum(
        1
        for key, value in info.items()
        if key.startswith("slave") and value.get("state") == "online"
    )
