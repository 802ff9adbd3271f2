"""The backup and restore of docs/operations.md, on a private real redis-server with AOF."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from frontdesk.redis import connect
from frontdesk.submissions.keys import job_id, submission_key
from frontdesk.submissions.record import MessageState, Submission
from frontdesk.submissions.store import SubmissionStore, load_submission
from tests.conftest import ROOT, free_port
from tests.storing import store_submission

pytestmark = pytest.mark.e2e
REDIS_SERVER = shutil.which("redis-server")


class RedisServer:
    """``redis-server`` with deploy/redis.conf's durability settings, data in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        directory.mkdir(exist_ok=True)
        assert REDIS_SERVER, "redis-server is not installed (apt-get install redis-server)"
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--maxmemory-policy",
                "noeviction",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
        )
        self.client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()  # SIGTERM: Redis fsyncs the AOF and exits
        self.process.wait(timeout=10)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[RedisServer]]:
    started: list[RedisServer] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.stop()


def submission(number: int) -> Submission:
    return Submission(
        id=f"{number:028x}",
        form="contact",
        status="received",
        created_at=dt.datetime.now(dt.UTC),
        fields={"name": "Ann Example", "email": "ann@example.com", "message": "Knee pain"},
        phone=None,
        flags=[],
        request_id="r",
        messages=[MessageState(kind="staff")],
    )


def test_backup_script_and_restore(tmp_path: Path, servers: list[RedisServer]) -> None:
    source = RedisServer(tmp_path / "source")
    servers.append(source)
    url = f"redis://127.0.0.1:{source.port}/0"
    store = SubmissionStore(connect(url), "frontdesk", [1], 60)
    store_submission(url, store, submission(1), 90, ["staff"])
    source.client.config_set("auto-aof-rewrite-percentage", "77")

    backup = tmp_path / "backup.tar.gz"
    with backup.open("wb") as out:
        subprocess.run(
            ["sh", ROOT / "deploy" / "redis-backup.sh"],
            stdout=out,
            check=True,
            env={**os.environ, "REDIS_CLI_ARGS": f"-p {source.port}"},
        )
    # The script put the rewrite setting back.
    assert source.client.config_get("auto-aof-rewrite-percentage") == {
        "auto-aof-rewrite-percentage": "77"
    }
    store_submission(url, store, submission(2), 90, ["staff"])  # after the backup: not in it
    source.stop()

    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    with tarfile.open(backup) as archive:
        assert all(name.startswith("appendonlydir") for name in archive.getnames())
        archive.extractall(restored_dir, filter="data")
    restored = RedisServer(restored_dir)
    servers.append(restored)
    record = load_submission(restored.client, submission(1).id)
    assert record is not None
    assert record.fields["email"] == "ann@example.com"
    assert restored.client.ttl(submission_key(submission(1).id)) > 89 * 86400
    assert restored.client.lrange("rq:queue:frontdesk", 0, -1) == [
        job_id(submission(1).id, "staff").encode()
    ]
    assert load_submission(restored.client, submission(2).id) is None


def _on_disk(directory: Path, needle: bytes) -> list[str]:
    """The files under ``directory`` holding ``needle``."""
    return [p.name for p in directory.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_erased_data_leaves_the_aof_at_its_next_rewrite(
    tmp_path: Path, servers: list[RedisServer]
) -> None:
    """docs/security.md: an erasure removes the data from memory; Redis's AOF keeps the writes
    until it is rewritten, which ``BGREWRITEAOF`` does at once.
    """
    server = RedisServer(tmp_path / "data")
    servers.append(server)
    url = f"redis://127.0.0.1:{server.port}/0"
    store = SubmissionStore(connect(url), "frontdesk", [1], 60)
    erased, kept = submission(1), submission(2)
    erased.fields["email"] = "vexmarch@canary.example"
    store_submission(url, store, erased, 90, ["staff"])
    store_submission(url, store, kept, 90, ["staff"])

    assert store.erase("vexmarch@canary.example") == [erased.id]
    assert _on_disk(tmp_path / "data", b"vexmarch@canary.example")  # still in the AOF

    # The rewritten AOF starts with an RDB image: uncompressed, so a value it kept can be found.
    server.client.config_set("rdbcompression", "no")
    server.client.bgrewriteaof()
    deadline = time.monotonic() + 20
    while _on_disk(tmp_path / "data", b"vexmarch@canary.example"):
        assert time.monotonic() < deadline, "the rewritten AOF still holds the erased data"
        time.sleep(0.1)
    assert _on_disk(tmp_path / "data", b"ann@example.com")  # the other one's record stays
