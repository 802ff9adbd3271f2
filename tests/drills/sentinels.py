"""A Sentinel topology of real processes on loopback ports: one primary, its replicas and the
sentinels watching them (``redis-server --sentinel``, the same binary as Debian's ``redis-sentinel``).

Every node keeps its AOF with ``appendfsync always`` in its own directory, like the drills' single
Redis. The sentinels decide fast (``down-after-milliseconds`` :data:`DOWN_AFTER_MS`,
``failover-timeout`` 5000, quorum 2 of 3 by default), so a SIGKILLed primary is replaced within a few seconds.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from pathlib import Path
from typing import Any

import redis

from tests.conftest import free_port
from tests.drills.harness import wait_until

MASTER = "frontdesk"
# A primary silent this long is down for a sentinel. Shorter, a promoted replica still busy with its
# first sync to the other one was taken for down on a loaded machine: a second failover, and the
# first promoted one, still a primary for ten seconds, took writes that were then discarded.
DOWN_AFTER_MS = 2000


class Node:
    """One ``redis-server`` (``sentinel=False``) or sentinel in ``directory``, on a free port."""

    def __init__(self, directory: Path, *, replica_of: int | None = None, sentinel: bool = False):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.replica_of = replica_of
        self.sentinel = sentinel
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.port, db=db, socket_connect_timeout=2, socket_timeout=5)

    def start(self, config: str = "") -> None:
        """Start the node (a sentinel with ``config``, the text of its configuration file)."""
        log = str(self.directory / "redis.log")
        if self.sentinel:
            conf = self.directory / "sentinel.conf"
            if not conf.exists():  # a restarted sentinel keeps what it rewrote there
                conf.write_text(config)
            argv = ["redis-server", str(conf), "--sentinel", "--logfile", log]
        else:
            argv = ["redis-server", "--port", str(self.port), "--dir", str(self.directory)]
            argv += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
            argv += ["--maxmemory-policy", "noeviction", "--logfile", log]
            if self.replica_of is not None:
                argv += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        argv += ["--bind", "127.0.0.1"] if not self.sentinel else []
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client()

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        if not wait_until(answers, 15):
            raise AssertionError(f"{argv[0]} on port {self.port} did not come up")
        client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last write to the AOF or the sentinel's configuration."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Topology:
    """``replicas`` replicas of a primary and ``sentinels`` sentinels with ``quorum``, under ``tmp``.

    ``nodes[0]`` is the first primary; :meth:`primary` asks the sentinels which node is the primary
    now. :meth:`up` returns once every sentinel sees the primary, its replicas and the other
    sentinels, so a failover can start at once.
    """

    def __init__(self, tmp: Path, *, replicas: int = 2, sentinels: int = 3, quorum: int = 2):
        self.nodes = [Node(tmp / "redis-0")]
        primary = self.nodes[0].port
        self.nodes += [Node(tmp / f"redis-{i}", replica_of=primary) for i in range(1, replicas + 1)]
        self.sentinels = [Node(tmp / f"sentinel-{i}", sentinel=True) for i in range(sentinels)]
        self.quorum = min(quorum, sentinels)

    @property
    def sentinel_setting(self) -> str:
        """``FRONTDESK_REDIS_SENTINELS``."""
        return ",".join(s.address for s in self.sentinels)

    def settings(self, db: int = 0) -> dict[str, str]:
        """The ``FRONTDESK_*`` variables of a process using this topology."""
        return {
            "FRONTDESK_REDIS_URL": f"redis://127.0.0.1:1/{db}",  # host and port unused
            "FRONTDESK_REDIS_SENTINELS": self.sentinel_setting,
            "FRONTDESK_REDIS_SENTINEL_MASTER": MASTER,
        }

    def up(self) -> None:
        for node in self.nodes:
            node.start()
        primary = self.nodes[0].port
        for sentinel in self.sentinels:
            sentinel.start(
                f"port {sentinel.port}\n"
                f"bind 127.0.0.1\n"
                f"dir {sentinel.directory}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {primary} {self.quorum}\n"
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER} 5000\n"
                f"sentinel parallel-syncs {MASTER} 2\n"
            )
        if not wait_until(self._settled, 30, interval=0.2):
            raise AssertionError(f"the sentinels did not see the whole topology: {self._views()}")

    def _views(self) -> list[dict[str, Any]]:
        views: list[dict[str, Any]] = []
        for sentinel in self.sentinels:
            client = sentinel.client()
            try:
                views.append(dict(client.sentinel_master(MASTER)))  # type: ignore[arg-type]
            except redis.RedisError as exc:
                views.append({"error": str(exc)})
            finally:
                client.close()
        return views

    def _settled(self) -> bool:
        replicas = len(self.nodes) - 1
        for view in self._views():
            if view.get("num-slaves") != replicas:
                return False
            if view.get("num-other-sentinels") != len(self.sentinels) - 1:
                return False
        return all(self._replicas_linked(node) for node in self.nodes[1:])

    @staticmethod
    def _replicas_linked(node: Node) -> bool:
        client = node.client()
        try:
            return client.info("replication").get("master_link_status") == "up"
        except redis.RedisError:
            return False
        finally:
            client.close()

    def primary(self) -> Node | None:
        """The node the sentinels name as primary now (None: none answers)."""
        for sentinel in self.sentinels:
            if not sentinel.running:
                continue
            client = sentinel.client()
            try:
                _, port = client.sentinel_get_master_addr_by_name(MASTER)  # type: ignore[misc]
            except (redis.RedisError, TypeError):
                continue
            finally:
                client.close()
            return next((n for n in self.nodes if n.port == int(port)), None)
        return None

    def replicas(self) -> list[Node]:
        """The running nodes that are not the primary."""
        primary = self.primary()
        return [n for n in self.nodes if n is not primary and n.running]

    def down(self) -> None:
        for node in [*self.sentinels, *self.nodes]:
            with contextlib.suppress(OSError):
                node.kill()
