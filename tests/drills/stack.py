"""`make run` under a drill: ``scripts/run`` (honcho and every process of the Procfile) against the
drill's own Redis and SMTP server, on free ports, with its processes found by their command lines.

``scripts/run`` starts no Redis of its own when one answers on ``FRONTDESK_REDIS_URL`` (the drill's
``DrillRedis`` does, and the drill kills and restarts it) and no SMTP catcher when
``FRONTDESK_SMTP_PORT`` is not the default (the drill's ``DrillSmtp`` counts what arrives). Every
``FRONTDESK_*_PORT`` setting gets a free port, so the drill never collides with a stack on the default
ports, including ports added to the settings later.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
from aiosmtpd.smtp import Envelope

from frontdesk.settings import PREFIX, Settings
from tests.conftest import ROOT, free_port
from tests.drills.harness import Drill, DrillSmtp, wait_until
from tests.processes import start


class SteeredSmtp(DrillSmtp):
    """The drill's SMTP server, which can also answer ``421`` to the next ``fail_next`` messages and
    hold the next ``DATA`` unanswered (the worker waits mid-send): ``hold_next()``, then ``held`` is
    set when it arrives and the answer waits for ``release()``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fail_next = 0
        self.held = threading.Event()
        self._hold_next = False
        self._released = threading.Event()

    def hold_next(self) -> None:
        self.held.clear()
        self._released.clear()
        self._hold_next = True

    def release(self) -> None:
        self._released.set()

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        if self._hold_next:
            self._hold_next = False
            self.held.set()
            while not self._released.is_set():
                await asyncio.sleep(0.02)
        if self.fail_next > 0:
            self.fail_next -= 1
            self.temporary_failures += 1
            return "421 4.3.0 Drill: try again later"
        return await super().handle_DATA(server, session, envelope)


@dataclass(frozen=True)
class StackPids:
    """The processes of one ``scripts/run``: honcho, the services, the site and the worker (its
    scheduler is a thread of it; its work horses come and go)."""

    honcho: int
    content: int
    forms: int
    site: int
    worker: int


def _table() -> dict[int, tuple[int, list[str]]]:
    """Every process of the machine: pid -> (parent pid, argv)."""
    table: dict[int, tuple[int, list[str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            continue
        table[int(entry.name)] = (int(fields[1]), [a.decode(errors="replace") for a in argv if a])
    return table


def descendants(root: int) -> dict[int, list[str]]:
    """The living processes under ``root`` (not zombies), with their argv."""
    table = _table()
    found: dict[int, list[str]] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, argv) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = argv
                frontier.append(pid)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _python_running(argv: list[str], *words: str) -> bool:
    """A Python process (not the ``sh -c`` honcho runs it through) whose arguments end in ``words``."""
    return bool(argv) and "python" in Path(argv[0]).name and argv[-len(words) :] == list(words)


class StackDrill(Drill):
    """A drill whose stack is ``scripts/run``: the drill's Redis and SMTP server, the rest by honcho."""

    smtp: SteeredSmtp

    def __init__(self, name: str, tmp: Path, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(name, tmp, extra_env)
        self.smtp = SteeredSmtp()
        self.env["FRONTDESK_SMTP_PORT"] = str(self.smtp.port)
        ports = {
            PREFIX + field.name.upper(): str(free_port())
            for field in msgspec.structs.fields(Settings)
            if field.name.endswith("_port") and field.name not in ("forms_port", "smtp_port")
        }
        self.env.update(ports)
        self.env["FRONTDESK_SITE_PORT"] = str(free_port())
        self.env.update(extra_env or {})
        self.run: subprocess.Popen[bytes] | None = None
        self.output = self.logs / "scripts-run.log"
        self.pids: StackPids | None = None
        self._groups: set[int] = set()

    def up(self) -> None:
        self.redis.start()
        self.smtp.accept()
        self.run = start([str(ROOT / "scripts" / "run")], self.env, self.output, new_session=True)

        def ready() -> bool:
            try:
                return self.http.get("/health/ready").status_code == 200
            except httpx.HTTPError:
                return False

        if not wait_until(ready, 60):
            raise AssertionError(f"scripts/run did not come up; its output: {self.output}")
        if not wait_until(lambda: self.find_pids() is not None, 30):
            raise AssertionError(f"the processes of scripts/run not found: {self.processes()}")
        self.pids = self.find_pids()

    def processes(self) -> dict[int, list[str]]:
        assert self.run is not None
        found = descendants(self.run.pid)
        for pid in found:
            with contextlib.suppress(OSError):
                self._groups.add(os.getpgid(pid))
        return found

    def find_pids(self) -> StackPids | None:
        """The stack's processes while the worker is idle (it has no child: no work horse)."""
        assert self.run is not None
        found = self.processes()

        def one(*words: str) -> list[int]:
            return [pid for pid, argv in found.items() if _python_running(argv, *words)]

        content, forms = one("serve", "content"), one("serve", "forms")
        site = [pid for pid, argv in found.items() if "http.server" in argv and "python" in argv[0]]
        workers = one("worker")
        parents = [pid for pid in workers if _table().get(pid, (0, []))[0] not in workers]
        if len(content) < 1 or len(forms) < 1 or len(site) != 1 or len(parents) != 1:
            return None
        if len(workers) != 1:
            return None

        def top(pids: list[int]) -> list[int]:
            """granian's workers are children of the service's process: the topmost is the service."""
            return [p for p in pids if _table().get(p, (0, []))[0] not in pids]

        return StackPids(
            honcho=self.run.pid,
            content=top(content)[0],
            forms=top(forms)[0],
            site=site[0],
            worker=parents[0],
        )

    def dead(self) -> list[str]:
        """Names of the processes found at the start that no longer run."""
        assert self.pids is not None
        return [name for name, pid in vars(self.pids).items() if not alive(pid)]

    def worker_lines(self) -> list[str]:
        """The worker's lines of the stack's output (honcho prefixes each with ``worker.1 |``)."""
        text = self.output.read_text(errors="replace")
        return [line for line in text.splitlines() if " worker.1 " in line[:40]]

    def down(self) -> None:
        """SIGTERM honcho (it stops every process), then SIGKILL whatever is left of the stack."""
        self.http.close()
        if self.run is not None:
            with contextlib.suppress(AssertionError):
                self.processes()
            if self.run.poll() is None:
                self.run.send_signal(signal.SIGTERM)
            try:
                self.run.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.run.kill()
                self.run.wait()
            for group in self._groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
        self.smtp.refuse()
        self.redis.kill()
