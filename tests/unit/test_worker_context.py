"""The worker's job context: handed to jobs on the RQ job object, reloaded only when asked, and no
module-level cache or per-job settings read left in the worker's modules."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from frontdesk.settings import load_settings
from tests.conftest import CLINIC_SITE, ROOT
from worker.context import JOB_ATTRIBUTE, JobContext

WORKER = ROOT / "worker"


def test_a_job_finds_the_context_its_worker_set_on_it(
    env: dict[str, str], redis_client: redis.Redis
) -> None:
    context = JobContext.build(load_settings())
    # The job function is current_context itself: what a job calls is what it returns.
    job = Job.create(
        "worker.context.current_context", connection=redis_client, serializer=JSONSerializer
    )
    setattr(job, JOB_ATTRIBUTE, context)
    assert job.perform() is context


def test_the_context_reloads_only_when_a_trigger_asked(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(CLINIC_SITE, site)
    settings = load_settings({"FRONTDESK_SITE_DIR": str(site)})
    context = JobContext.build(settings)
    good = context.form("contact")
    assert good is not None
    (site / "forms" / "contact.yaml").write_text("id: contact\ntitle: [unclosed\n")

    assert not context.refresh()  # nothing asked: the forms a job sees do not move under it
    assert context.catalog.loads == 1
    context.flag.raise_flag()  # what the watcher thread and SIGHUP do
    assert context.refresh()
    assert context.is_broken("contact")
    assert context.form("contact") is good  # mail of stored submissions still has a definition
    assert context.environments("contact")[0].get_template("staff.txt.j2")


def _decorators(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names += [ast.unparse(d) for d in node.decorator_list]
    return names


def _calls(tree: ast.AST) -> list[str]:
    return [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]


def test_no_worker_module_caches_at_module_level_or_reads_settings_per_job() -> None:
    for path in sorted(WORKER.glob("*.py")):
        tree = ast.parse(path.read_text())
        cached = [d for d in _decorators(tree) if "cache" in d]
        assert cached == [], f"{path.name}: {cached}"
        if path.name in {"jobs.py", "digest.py", "messages.py"}:
            reads = [c for c in _calls(tree) if c in {"load_settings", "load_forms"}]
            assert reads == [], f"{path.name} reads {reads} in a job"
