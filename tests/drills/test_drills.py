"""Failure drills: 200 valid submissions through the real stack while a part fails.

Each drill ends with the same accounting: every 201 has a stored submission and a staff email
(matched by Message-ID); duplicates are counted, and more of them than crashes inflicted on the
delivery path (worker kills; a Redis kill can also cut a job between the relay's 250 and the
``sent`` marker) fails the drill.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.drills.harness import DrillReport, drill

pytestmark = [pytest.mark.e2e, pytest.mark.drill, pytest.mark.timeout(600)]


def assert_nothing_lost(report: DrillReport, crashes: int) -> None:
    assert report.accepted_ids, "no submission was accepted"
    assert report.missing_record == [], "201 answers without a stored submission"
    assert report.missing_email == [], "201 answers without a staff email"
    assert report.duplicates <= crashes, f"{report.duplicates} duplicates for {crashes} crashes"


def test_worker_killed_twice(tmp_path: Path) -> None:
    with drill("worker SIGKILLed twice", tmp_path) as stack:

        def crash_and_restart() -> None:
            stack.kill_worker()
            time.sleep(1.0)
            stack.restart_worker()

        sent = stack.run_load(faults={50: crash_and_restart, 120: crash_and_restart})
        assert {s.status for s in sent} == {201}
        stack.settle()
        report = stack.account()
    assert report.worker_kills == 2
    assert report.jobs_abandoned == 2, "a kill did not hit a running job"
    assert_nothing_lost(report, crashes=report.worker_kills)


def test_redis_killed_and_back_after_5_s(tmp_path: Path) -> None:
    outage: dict[str, float] = {}
    with drill("Redis SIGKILLed, back 5 s later", tmp_path) as stack:

        def outage_of_5_s() -> None:
            outage["killing"] = time.monotonic() - stack.started
            stack.kill_redis()
            outage["down"] = time.monotonic() - stack.started
            time.sleep(5.0)
            outage["restarting"] = time.monotonic() - stack.started
            stack.redis.start()

        sent = stack.run_load(pause=0.08, faults={70: outage_of_5_s})
        before = [s for s in sent if s.done < outage["killing"]]
        gap = [s for s in sent if s.at > outage["down"] and s.done < outage["restarting"]]
        after = [s for s in sent if s.at > outage["restarting"] + 2.0]
        stack.settle()
        report = stack.account()
    assert gap, "no submission was sent while Redis was down"
    assert {s.status for s in gap} == {503}
    assert None not in {s.problem_code for s in gap}, "a 503 without problem details"
    assert {s.status for s in before} == {201}
    assert after
    assert {s.status for s in after} == {201}
    assert_nothing_lost(report, crashes=report.redis_kills)


def test_smtp_refuses_connections_for_20_s(tmp_path: Path) -> None:
    with drill("SMTP refusing connections for 20 s", tmp_path) as stack:

        def refuse_for_20_s() -> None:
            stack.smtp.refuse()
            time.sleep(20.0)
            stack.smtp.accept()

        sent = stack.run_load(faults={40: refuse_for_20_s})
        assert {s.status for s in sent} == {201}
        stack.settle()
        report = stack.account()
    assert_nothing_lost(report, crashes=0)


def test_smtp_answers_421_to_every_third_message(tmp_path: Path) -> None:
    with drill("SMTP answering 421 to every third message", tmp_path) as stack:
        stack.smtp.temporary_failure_every = 3
        sent = stack.run_load()
        assert {s.status for s in sent} == {201}
        stack.settle()
        report = stack.account()
    assert report.temporary_failures >= 60
    assert_nothing_lost(report, crashes=0)
