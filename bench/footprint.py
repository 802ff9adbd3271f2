"""Footprint: the memory of the three roles under ``make run`` (``scripts/run``) on the clinic site,
per role, after traffic, and each role's time from start to ready; the current tree against the
process model before it (the baseline), measured in the same run, one stack after the other, in two
conditions.

- The baseline is the tree of ``BASELINE_REF`` (``FOOTPRINT_BASELINE_REF`` overrides it): the last
  commit of the old process model (each service a granian launcher plus one forked server process,
  the worker an RQ worker plus a forked scheduler process), exported with ``git archive`` into a
  temporary directory and run with this checkout's ``.venv`` (``PYTHONPATH`` points at the exported
  tree, so its own ``frontdesk``, ``services`` and ``worker`` packages are the ones imported). It
  needs that commit in the repository (not a shallow clone).
- Conditions. *With bytecode*: every module loads from a ``.pyc`` (``uv sync`` compiles the installed
  packages, ``scripts/run`` the project's), as ``make run`` has it now; both trees get the same.
  *Without bytecode*: the environment the first figures were taken in (``PYTHONDONTWRITEBYTECODE=1``
  and no ``.pyc`` for the installed packages): only the standard library has bytecode, every other
  module is compiled at each import of each process, which costs start time and leaves ~10 MiB more
  heap per process. It is simulated with ``PYTHONPYCACHEPREFIX`` (Python then reads bytecode only
  from a fresh directory, where the standard library is compiled first) without touching ``.venv``.
- Each stack is ``scripts/run`` of its tree with a private ``redis-server`` (AOF, ``appendfsync
  always``) and an SMTP sink, every port a free one, pinned to the server core; wrk, Redis and the
  sink on the load core.
- A role is its Python process and every process under it (granian's server processes, RQ's scheduler
  and work horses, multiprocessing's helpers); honcho, its ``sh -c`` wrappers and the static site are
  not counted. RSS is the sum of each process's resident set (pages shared by forked processes count
  once per process, as ``ps`` adds them up); PSS is the sum of ``Pss`` from
  ``/proc/<pid>/smaps_rollup`` (each shared page divided among the processes mapping it, so the sum
  over every process of the machine is its memory in use). PSS also divides shared libraries with
  unrelated processes of the machine that map them, so it moves a little with what else runs.
- Ready: content and forms when ``/health/ready`` answers 200; the worker when it is registered on
  its queue in Redis. Times are from the start of ``scripts/run``; the roles start side by side.
- Traffic before the measurement: ``BENCH_SECONDS`` (default 5) of wrk on the clinic page and as
  long on the phone check, then ``BENCH_COUNT`` (default 100) accepted submissions whose staff emails
  the worker sends (a work horse forked per job), waited for; then 3 s to settle.

Writes bench/results/footprint.json: ``comparisons`` (the summary's rows: the totals against the
limit of 200 MiB PSS, then per condition the totals, PSS per role and start to ready, each against
the baseline) and ``conditions`` (per condition and tree: ready times, RSS and PSS per role when
ready and after traffic, the traffic served).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sysconfig
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.harness import (
    BIN,
    CLINIC,
    LOAD_CPU,
    ROOT,
    SERVER_CPU,
    base_env,
    comparison,
    free_port,
    meta,
    redis_server,
    seconds,
    smtp_sink,
    write_result,
    wrk,
)

# The last commit of the old process model (a granian launcher per service, a scheduler process).
BASELINE_REF = os.environ.get("FOOTPRINT_BASELINE_REF", "d22ef249d162eae7687ed9cbecbb27ad3838b5ec")
LIMIT_PSS_MIB = 200.0  # content + forms + worker together, after traffic
SUBMISSIONS = int(os.environ.get("BENCH_COUNT", "100"))
ROLES = {
    "content": ["serve", "content"],
    "forms": ["serve", "forms"],
    "worker": ["worker"],
}
PAGE = "/v1/pages/dry-needling-therapy-for-joint-pain"
PHONE = "/v1/phone/check?number=%2B1%20415%20555%202671"


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


def _under(table: dict[int, tuple[int, list[str]]], root: int) -> list[int]:
    """``root`` and every living process below it."""
    found, frontier = [root], [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _) in table.items():
            if ppid == parent and pid not in found:
                found.append(pid)
                frontier.append(pid)
    return found


def role_processes(stack: int) -> dict[str, list[int]]:
    """Each role's processes under the ``scripts/run`` process ``stack``: the Python process whose
    arguments end in the role's (not honcho's ``sh -c`` wrapper) and everything below it."""
    table = _table()
    below = _under(table, stack)
    roles: dict[str, list[int]] = {}
    for role, words in ROLES.items():
        tops = [
            pid
            for pid in below
            if table[pid][1]
            and "python" in Path(table[pid][1][0]).name
            and table[pid][1][-len(words) :] == words
            and table.get(table[pid][0], (0, []))[1][-len(words) :] != words
        ]
        roles[role] = sorted({p for top in tops for p in _under(table, top)})
    return roles


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB from ``/proc/<pid>/smaps_rollup``; (0, 0) once it is gone."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        return 0, 0
    return rss, pss


def measure(stack: int) -> dict[str, dict[str, Any]]:
    """Per role: its processes (count), RSS and PSS in MiB, summed over them."""
    result = {}
    for role, pids in role_processes(stack).items():
        figures = [memory_kib(pid) for pid in pids]
        result[role] = {
            "processes": sum(1 for rss, _ in figures if rss),
            "rss_mib": round(sum(rss for rss, _ in figures) / 1024, 1),
            "pss_mib": round(sum(pss for _, pss in figures) / 1024, 1),
        }
    return result


def export(ref: str, into: Path) -> Path:
    """The tree of ``ref`` written under ``into`` (``git archive``), with this checkout's ``.venv``."""
    archive = into / "tree.tar"
    with archive.open("wb") as out:
        done = subprocess.run(
            ["git", "archive", ref], cwd=ROOT, stdout=out, stderr=subprocess.PIPE, check=False
        )
    if done.returncode:
        raise SystemExit(
            f"the baseline {ref} is not in this repository ({done.stderr.decode().strip()}); "
            "a full clone has it, or set FOOTPRINT_BASELINE_REF"
        )
    tree = into / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    (tree / ".venv").symlink_to(ROOT / ".venv")
    return tree


@contextmanager
def stack(tree: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``scripts/run`` of ``tree`` pinned to the server core for the block; yields its process,
    then SIGTERMs it (honcho stops the roles) and SIGKILLs whatever of its group is left. Its
    output is printed when the block fails."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, str(tree / "scripts" / "run")],
            cwd=tree,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        except BaseException:
            log.seek(0)
            print(log.read().decode(errors="replace")[-4000:])
            raise
        finally:
            proc.terminate()
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(
    urls: dict[str, str], connection: redis.Redis, began: float, timeout: float = 90.0
) -> dict[str, float]:
    """Seconds from ``began`` until each role is ready (services: ``/health/ready`` 200; the worker:
    registered on the ``frontdesk`` queue). Raises RuntimeError after ``timeout``."""
    ready: dict[str, float] = {}
    while len(ready) < 3:
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"not ready within {timeout} s: {set(ROLES) - set(ready)}")
        for role, url in urls.items():
            if role not in ready and _ready(url):
                ready[role] = round(time.monotonic() - began, 2)
        if "worker" not in ready and connection.scard("rq:workers:frontdesk"):
            ready["worker"] = round(time.monotonic() - began, 2)
        time.sleep(0.05)
    return ready


def traffic(content: str, forms: str, connection: redis.Redis) -> dict[str, Any]:
    """Page views and phone checks (wrk), then SUBMISSIONS submissions, waiting for their emails."""
    duration = seconds(5)
    pages = wrk(content + PAGE, duration=duration)
    phones = wrk(forms + PHONE, duration=duration)
    accepted = 0
    with httpx.Client(base_url=forms, timeout=15) as client:
        for i in range(SUBMISSIONS):
            answer = client.post(
                "/v1/forms/contact/submissions",
                json={
                    "name": f"Footprint {i}",
                    "email": f"footprint{i}@example.com",
                    "phone": "+1 415 555 2671",
                    "message": "Knee pain since Monday.",
                },
            )
            accepted += answer.status_code == 201
    deadline = time.monotonic() + 120
    notified = 0
    while time.monotonic() < deadline:
        keys = list(connection.scan_iter("frontdesk:submission:*", count=1000))
        records = connection.mget(keys) if keys else []
        notified = sum(1 for raw in records if raw and b'"status":"notified"' in raw)
        if notified >= accepted:
            break
        time.sleep(0.25)
    return {
        "page_requests": pages["requests"],
        "phone_checks": phones["requests"],
        "submissions_accepted": accepted,
        "emails_sent": notified,
    }


def compile_bytecode(tree: Path) -> None:
    """Bytecode for ``tree``'s own packages and the installed ones, as ``scripts/run`` and ``uv sync``
    write it now (up-to-date files are skipped)."""
    paths = [str(tree / name) for name in ("frontdesk", "services", "worker")]
    paths.append(sysconfig.get_paths()["purelib"])
    subprocess.run(
        [str(BIN / "python"), "-m", "compileall", "-q", "-j0", *paths],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def without_bytecode(prefix: Path) -> dict[str, str]:
    """The environment of the no-bytecode measurement: the standard library's bytecode only (written
    under ``prefix``, which Python then reads instead of every ``__pycache__``), the project and
    the installed packages compiled at each import, nothing written (``PYTHONDONTWRITEBYTECODE``)."""
    stdlib = sysconfig.get_paths()["stdlib"]
    skip = r"/(test|idlelib|tkinter|turtledemo|lib2to3|ensurepip)/"
    subprocess.run(
        [str(BIN / "python"), "-m", "compileall", "-q", "-j0", "-x", skip, stdlib],
        env={**os.environ, "PYTHONPYCACHEPREFIX": str(prefix)},
        check=False,  # a few test files of the standard library do not compile, on purpose
        stdout=subprocess.DEVNULL,
    )
    return {"PYTHONPYCACHEPREFIX": str(prefix), "PYTHONDONTWRITEBYTECODE": "1"}


def run_stack(tree: Path, extra: dict[str, str]) -> dict[str, Any]:
    """One stack of ``tree`` with ``extra`` in its environment: start, readiness, memory when ready,
    traffic, memory after it."""
    with redis_server() as redis_url, smtp_sink(base_env()) as smtp_port:
        ports = {
            name: str(free_port())
            for name in (
                "FRONTDESK_CONTENT_PORT",
                "FRONTDESK_FORMS_PORT",
                "FRONTDESK_CONTENT_INTERNAL_PORT",
                "FRONTDESK_FORMS_INTERNAL_PORT",
                "FRONTDESK_SITE_PORT",
            )
        }
        env = base_env(
            FRONTDESK_REDIS_URL=redis_url,
            FRONTDESK_SITE_DIR=str(CLINIC),
            FRONTDESK_SMTP_PORT=str(smtp_port),
            FRONTDESK_LOG_LEVEL="INFO",
            PYTHONPATH=str(tree),
            **ports,
        )
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(extra)
        content = f"http://127.0.0.1:{ports['FRONTDESK_CONTENT_PORT']}"
        forms = f"http://127.0.0.1:{ports['FRONTDESK_FORMS_PORT']}"
        connection = redis.Redis.from_url(redis_url)
        began = time.monotonic()
        with stack(tree, env) as proc:
            ready = wait_ready(
                {"content": content + "/health/ready", "forms": forms + "/health/ready"},
                connection,
                began,
            )
            time.sleep(2)
            idle = measure(proc.pid)
            load = traffic(content, forms, connection)
            time.sleep(3)
            after = measure(proc.pid)
    return {"ready_seconds": ready, "idle": idle, "after_traffic": after, "traffic": load}


def total(figures: dict[str, dict[str, Any]], key: str) -> float:
    return round(sum(role[key] for role in figures.values()), 1)


CONDITIONS = {
    "bytecode": "with bytecode (make run)",
    "no_bytecode": "without bytecode (PYTHONDONTWRITEBYTECODE, no .pyc)",
}


def processes(count: int) -> str:
    return f"{count} process{'es' if count != 1 else ''}"


def rows(condition: str, old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary rows of one condition: totals, PSS per role, start to ready per role."""
    label, name = CONDITIONS[condition], "old process model"
    before, after = old["after_traffic"], new["after_traffic"]
    found = [
        comparison(
            f"PSS {label}, content + forms + worker",
            total(after, "pss_mib"),
            total(before, "pss_mib"),
            name,
            "MiB",
            lower_is_better=True,
        ),
        comparison(
            f"RSS {label}, content + forms + worker",
            total(after, "rss_mib"),
            total(before, "rss_mib"),
            name,
            "MiB",
            lower_is_better=True,
        ),
    ]
    for role in ROLES:
        found.append(
            comparison(
                f"PSS {label}, {role} ({processes(after[role]['processes'])})",
                after[role]["pss_mib"],
                before[role]["pss_mib"],
                f"{name}, {processes(before[role]['processes'])}",
                "MiB",
                lower_is_better=True,
            )
        )
    for role in ROLES:
        found.append(
            comparison(
                f"start to ready {label}, {role}",
                new["ready_seconds"][role],
                old["ready_seconds"][role],
                name,
                "s",
                lower_is_better=True,
            )
        )
    return found


def summary_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row: each condition's total against the limit, then :func:`rows` per condition."""
    found = [
        comparison(
            f"PSS {CONDITIONS[condition]}, content + forms + worker, against the limit",
            total(results[condition]["current"]["after_traffic"], "pss_mib"),
            LIMIT_PSS_MIB,
            "the limit",
            "MiB",
            target=1.0,
            lower_is_better=True,
        )
        for condition in CONDITIONS
    ]
    for condition in CONDITIONS:
        found += rows(condition, results[condition]["baseline"], results[condition]["current"])
    return found


def main() -> None:
    started = meta()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        baseline_tree = export(BASELINE_REF, Path(tmp))
        cold = without_bytecode(Path(tmp) / "pycache")
        trees = {"baseline": baseline_tree, "current": ROOT}
        for condition in ("no_bytecode", "bytecode"):
            results[condition] = {}
            for which, tree in trees.items():
                if condition == "bytecode":
                    compile_bytecode(tree)
                extra = cold if condition == "no_bytecode" else {}
                results[condition][which] = run_stack(tree, extra)
                print(condition, which, results[condition][which], flush=True)
    comparisons = summary_rows(results)
    details = {
        "baseline_ref": BASELINE_REF,
        "limit_pss_mib": LIMIT_PSS_MIB,
        "pinning": f"stack on core {SERVER_CPU}; wrk, redis-server, SMTP sink on core {LOAD_CPU}",
        "conditions": results,
    }
    write_result("footprint", comparisons, details, started)


if __name__ == "__main__":
    main()
