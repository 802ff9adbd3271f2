"""Build hooks through real processes: two ``frontdesk serve content`` replicas and a
``frontdesk worker`` on one Redis, and a receiver on an ephemeral port.

- a page scheduled a few seconds ahead is published with no request and no file change, and the
  receiver gets one signed hook naming it (two replicas noticed it: one hook);
- the receiver's first answer is a 500: the worker retries on its schedule, then it is delivered;
- an edit of a page sends one hook naming its slug;
- ``frontdesk hooks log`` shows every attempt, and never the hook's URL.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from frontdesk.submissions.secret import derive
from tests.conftest import TEST_REDIS_URL, free_port
from tests.content.sites import write_files
from tests.hooks_receiver import Receiver, receiving, verify
from tests.processes import FRONTDESK, Processes, frontdesk_env, wait_http
from tests.relay import Relay, running

pytestmark = pytest.mark.e2e

SECRET = "build-hooks-e2e-master-key-0123456789abcdef"


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        time.sleep(0.1)


@pytest.fixture
def stack(
    tmp_path: Path, redis_client: redis.Redis
) -> Iterator[tuple[Receiver, str, Path, dict[str, str], list[str]]]:
    with receiving() as (receiver, url), running(Relay()) as smtp_port:
        site = write_files(tmp_path / "site", {})
        config = site / "site.yaml"
        config.write_text(
            config.read_text() + f"build_hooks:\n  - {{name: netlify, url: '{url}'}}\n"
        )
        env = {
            "FRONTDESK_REDIS_URL": TEST_REDIS_URL,
            "FRONTDESK_SITE_DIR": str(site),
            "FRONTDESK_SECRET_KEY": SECRET,
            "FRONTDESK_WEBHOOK_ALLOW_HTTP": "on",
            "FRONTDESK_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
            "FRONTDESK_CONTENT_RELOAD_DEBOUNCE": "0.1",
            "FRONTDESK_CONTENT_PUBLISH_CHECK": "1",
            "FRONTDESK_SMTP_HOST": "127.0.0.1",
            "FRONTDESK_SMTP_PORT": str(smtp_port),
            "FRONTDESK_SMTP_TIMEOUT": "3",
            "FRONTDESK_RETRY_BASE_SECONDS": "1",
            "FRONTDESK_WORKER_HEARTBEAT": "1",
            "FRONTDESK_WORKER_MAINTENANCE_INTERVAL": "1",
        }
        processes = Processes(tmp_path / "logs")
        bases = []
        try:
            for name in ("content-a", "content-b"):
                port = free_port()
                processes.start(
                    name,
                    [FRONTDESK, "serve", "content"],
                    frontdesk_env({**env, "FRONTDESK_CONTENT_PORT": str(port)}),
                )
                bases.append(f"http://127.0.0.1:{port}")
            for base in bases:
                wait_http(f"{base}/health/ready", timeout=20)
            processes.start("worker", [FRONTDESK, "worker"], frontdesk_env(env))
            yield receiver, url, site, env, bases
        finally:
            processes.stop()


def test_scheduled_publish_retries_and_edits_reach_the_receiver_once_each(
    stack: tuple[Receiver, str, Path, dict[str, str], list[str]],
) -> None:
    receiver, url, site, env, bases = stack
    key = derive(SECRET.encode(), "build-hooks").hex()
    receiver.statuses.append(500)
    # Written once both replicas serve: the reload changes no route (the page is not live yet).
    when = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=4)
    (site / "pages" / "soon.yaml").write_text(
        f"slug: soon\ntitle: Soon\npublish_at: {when.isoformat()}\nsections: []\n"
    )
    for base in bases:
        assert httpx.get(f"{base}/v1/pages/soon").status_code == 404

    # No request reaches the content services until the hook has come: the timer publishes.
    first, second = receiver.wait(2, timeout=40)
    assert first[1]["Frontdesk-Delivery"] == second[1]["Frontdesk-Delivery"]
    assert first[2] == second[2]
    assert verify(key, second[1]["Frontdesk-Signature"], second[2])
    published = json.loads(second[2])
    assert published["pages"]["added"] == ["soon"]
    for base in bases:
        assert httpx.get(f"{base}/v1/pages/soon").status_code == 200

    page = site / "pages" / "home.yaml"
    page.write_text(page.read_text().replace("title: Home", "title: Edited", 1))
    third = receiver.wait(3)[2]
    edited = json.loads(third[2])
    assert edited["pages"]["changed"] == ["home"]
    assert verify(key, third[1]["Frontdesk-Signature"], third[2])
    for base in bases:
        eventually(lambda base=base: httpx.get(f"{base}/v1/pages/home").json()["title"] == "Edited")
    time.sleep(1.5)  # a second hook from the other replica would have come by now
    assert len(receiver.requests) == 3

    log = subprocess.run(
        [FRONTDESK, "hooks", "log", "netlify"],
        env=frontdesk_env(env),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert [line.split()[2:] for line in log] == [
        [f"change={edited['id']}", "attempt=1", "status=204", "delivered"],
        [f"change={published['id']}", "attempt=2", "status=204", "delivered"],
        [
            f"change={published['id']}",
            "attempt=1",
            "status=500",
            "retrying",
            "Internal",
            "Server",
            "Error",
        ],
    ]
    assert url not in "\n".join(log)
