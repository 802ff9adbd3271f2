"""The layout's contracts, read from the source (docs/architecture.md, "The dependency rule"):

- services and the worker depend on the submission domain (``frontdesk/submissions/``), which
  depends on the core (the modules directly under ``frontdesk/``), never the reverse: no module
  under ``frontdesk/`` but the CLI (the one composition root) imports ``services`` or ``worker``;
  no core module imports the domain; no module under ``worker/`` imports ``services``; no service
  imports another or the worker;
- Litestar's internals (``litestar._*``, ``litestar.utils.scope``) are imported in one module only;
- no file cites the old design file or an issue number: the docs stand alone.

Imports are read with ``ast`` from every ``.py`` file, wherever they stand (inside functions and
``if TYPE_CHECKING:`` blocks too; relative ones resolved), together with
``importlib.import_module("...")`` and ``__import__("...")`` calls on a literal name. Every failure
lists each offending ``file:line``.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()

COMPOSITION_ROOT = "frontdesk/cli.py"
"""The one module of ``frontdesk/`` that wires services and the worker together."""

LITESTAR_COMPAT = "frontdesk/litestar_compat.py"
"""The one module that may import Litestar's internals."""

LITESTAR_COMPAT_TESTS = re.compile(r"(^|/)test_litestar_compat\w*\.py$")
"""Tests that pin what the compatibility module relies on may look at the internals too."""


@dataclass(frozen=True)
class Import:
    """One imported module name (absolute, dotted) and where it is imported."""

    path: str
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.module}"


def package_of(path: str) -> str:
    """The dotted package a module at ``path`` (relative to the repository) belongs to."""
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1])


def resolve(module: str | None, level: int, package: str) -> str:
    """``from <level dots><module> import ...`` seen from ``package``, made absolute."""
    if level == 0:
        return module or ""
    base = package.split(".")
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, module] if module else base)


def is_import_call(node: ast.Call) -> bool:
    """``importlib.import_module(...)``, ``import_module(...)`` or ``__import__(...)``."""
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id in {"import_module", "__import__"}


def imports_in(source: str, path: str) -> Iterator[Import]:
    """Every module name ``source`` (the text of the file at ``path``) imports, at any depth.

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (``c`` may be a module); a star import
    yields ``a.b`` alone. A call of ``import_module`` whose name is not a literal is not seen.
    """
    package = package_of(path)
    if path.endswith("/__init__.py"):
        package = path.removesuffix("/__init__.py").replace("/", ".")
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node.module, node.level, package)
            yield Import(path, node.lineno, base)
            for alias in node.names:
                if alias.name != "*":
                    yield Import(path, node.lineno, f"{base}.{alias.name}")
        elif isinstance(node, ast.Call) and is_import_call(node) and node.args:
            name = node.args[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                anchor = node.args[1] if len(node.args) > 1 else None
                level = len(name.value) - len(name.value.lstrip("."))
                if level and isinstance(anchor, ast.Constant) and isinstance(anchor.value, str):
                    module = resolve(name.value[level:] or None, level, anchor.value)
                else:
                    module = resolve(name.value[level:] or None, level, package)
                yield Import(path, node.lineno, module)


def python_files(*folders: str) -> list[str]:
    """The ``.py`` files under ``folders`` in the working tree, as paths relative to the root."""
    return sorted(
        p.relative_to(ROOT).as_posix()
        for folder in folders
        for p in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in p.parts
    )


def all_imports(*folders: str) -> list[Import]:
    return [
        found
        for path in python_files(*folders)
        for found in imports_in((ROOT / path).read_text(encoding="utf-8"), path)
    ]


def within(module: str, package: str) -> bool:
    """``module`` is ``package`` or inside it."""
    return module == package or module.startswith(f"{package}.")


def fail_with(offences: list[Import] | list[tuple[str, int, str]], rule: str) -> None:
    """Fail naming ``rule`` and every offence, one ``file:line`` a line in file and line order (for
    an import statement its module alone: ``from a import b`` is not listed again as ``a.b``)."""
    found: dict[tuple[str, int], str] = {}
    for offence in offences:
        path, line, what = (
            (offence.path, offence.line, f"imports {offence.module}")
            if isinstance(offence, Import)
            else offence
        )
        if (path, line) not in found or len(what) < len(found[path, line]):
            found[path, line] = what
    if found:
        listed = "\n".join(f"{path}:{line}: {what}" for (path, line), what in sorted(found.items()))
        pytest.fail(f"{rule}:\n{listed}", pytrace=False)


def test_the_worker_imports_no_service() -> None:
    offences = [i for i in all_imports("worker") if within(i.module, "services")]
    fail_with(offences, "worker/ imports a service (its domain is in frontdesk/submissions/)")


def test_the_shared_packages_import_no_service_and_not_the_worker() -> None:
    offences = [
        i
        for i in all_imports("frontdesk")
        if i.path != COMPOSITION_ROOT
        and (within(i.module, "services") or within(i.module, "worker"))
    ]
    fail_with(
        offences,
        f"a module of frontdesk/ other than {COMPOSITION_ROOT} imports a service or the worker",
    )


def test_the_core_does_not_import_the_submission_domain() -> None:
    """The modules directly under ``frontdesk/`` are the core every process uses (settings, Redis,
    logs, metrics, HTTP plumbing); the submission domain builds on them, not the reverse."""
    offences = [
        i
        for i in all_imports("frontdesk")
        if i.path.count("/") == 1
        and i.path != COMPOSITION_ROOT
        and within(i.module, "frontdesk.submissions")
    ]
    fail_with(offences, "a core module of frontdesk/ imports the submission domain")


def test_no_service_imports_another() -> None:
    services = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists())
    assert {"content", "forms"} <= set(services)
    offences = [
        i
        for i in all_imports("services")
        for other in services
        if not i.path.startswith(f"services/{other}/") and within(i.module, f"services.{other}")
    ]
    fail_with(offences, "a service imports another service (shared code goes to frontdesk/)")


def test_no_service_imports_the_worker() -> None:
    """A service queues a job by its function's dotted name (``worker.jobs.send_message``), a string
    RQ resolves in the worker; it never imports the worker's code."""
    offences = [i for i in all_imports("services") if within(i.module, "worker")]
    fail_with(offences, "a service imports the worker (queue jobs by their dotted name)")


def is_litestar_internal(module: str) -> bool:
    """``litestar._asgi.utils``, ``litestar.utils.scope.state`` and the like; dunders are public."""
    parts = module.split(".")
    if parts[0] != "litestar":
        return False
    private = any(p.startswith("_") and not p.endswith("__") for p in parts[1:])
    return private or parts[:3] == ["litestar", "utils", "scope"]


def test_litestar_internals_are_imported_in_one_module() -> None:
    offences = [
        i
        for i in all_imports("frontdesk", "services", "worker", "tests", "bench", "scripts")
        if is_litestar_internal(i.module)
        and i.path != LITESTAR_COMPAT
        and not LITESTAR_COMPAT_TESTS.search(i.path)
    ]
    fail_with(offences, f"Litestar internals imported outside {LITESTAR_COMPAT}")


def test_the_walk_sees_every_kind_of_import() -> None:
    """The contracts above are only as good as the walk: it must see what hides."""
    source = """
import services.forms.app
from . import keys
from ..networks import client_address
from .. import networks as n
if TYPE_CHECKING:
    from worker.jobs import send_message

def later():
    from services.content.loader import load_site
    importlib.import_module("services.forms.store")
    import_module(".store", "frontdesk.submissions")
    __import__("worker.sweep")
"""
    found = {(i.line, i.module) for i in imports_in(source, "frontdesk/submissions/emails.py")}
    assert found >= {
        (2, "services.forms.app"),
        (3, "frontdesk.submissions.keys"),
        (4, "frontdesk.networks.client_address"),
        (5, "frontdesk.networks"),
        (7, "worker.jobs.send_message"),
        (10, "services.content.loader.load_site"),
        (11, "services.forms.store"),
        (12, "frontdesk.submissions.store"),
        (13, "worker.sweep"),
    }
    assert is_litestar_internal("litestar._asgi.utils")
    assert is_litestar_internal("litestar.utils.scope.state.ScopeState")
    assert is_litestar_internal("litestar.utils.scope")
    assert not is_litestar_internal("litestar.utils.sync")
    assert not is_litestar_internal("litestar.__version__")
    assert not is_litestar_internal("litestar_granian._private")


# Citations. The project's docs and code say what holds in their own words; a reader of the
# repository cannot follow a pointer to the old design file or to an issue of the project's own
# tracker. Deliberately not counted: a reference to another project's public tracker
# (``rq/rq#2379``, a github.com/.../issues/N URL), which a reader can follow; CSS colours
# (``#666``) and HTML character references (``&#39;``); anchors (``operations.md#logs``) and words
# such as ``issued``. The prose rule is strict on purpose: write "the problem", not "the issue".
DESIGN_FILE = re.compile(r"\bDESIGN\.md\b", re.IGNORECASE)
ISSUE_WORD = re.compile(r"\b(?:issues?|pull requests?)\s*(?:no\.\s*)?#?\d+|\bthe issue\b", re.I)
HASH_NUMBER = re.compile(r"(?<![\w&#/.:=\\-])#(\d+)\b(?![\w-])")
CSS_DECLARATION = re.compile(r"(?:colou?r|background|border|fill|stroke|shadow|outline)[\w-]*\s*:")
STYLE_SUFFIXES = (".css", ".svg", ".html", ".j2", ".js")


def citations(text: str, path: str) -> Iterator[tuple[int, str]]:
    """``(line number, what)`` for every citation in ``text`` (the file at ``path``)."""
    for number, line in enumerate(text.splitlines(), start=1):
        for match in DESIGN_FILE.finditer(line):
            yield number, match.group()
        for match in ISSUE_WORD.finditer(line):
            yield number, match.group()
        for match in HASH_NUMBER.finditer(line):
            colour = len(match.group(1)) in {3, 4, 6, 8} and (
                path.endswith(STYLE_SUFFIXES) or CSS_DECLARATION.search(line[: match.start()])
            )
            if not colour:
                yield number, match.group()


def tracked_files() -> list[str]:
    """What git tracks, and what it would track (untracked, not ignored), in the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({p for p in listed.split("\0") if p and (ROOT / p).is_file()})


def test_no_file_cites_the_old_design_or_an_issue() -> None:
    offences: list[tuple[str, int, str]] = []
    for path in tracked_files():
        if path == THIS_FILE:
            continue
        data = (ROOT / path).read_bytes()
        if b"\0" in data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        offences += [(path, line, what) for line, what in citations(text, path)]
    fail_with(offences, "cites the old design file or an issue; say it in the project's own words")


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("The contract is DESIGN.md, section 4.", "docs/forms.md"),
        ("see ../shared/design.md", "README.md"),
        ('"""Content service (issue 3): page GET', "bench/content.py"),
        ("as the issue's benchmark measures it", "services/forms/front.py"),
        ("Fixed in #12.", "docs/worker.md"),
        ("(see #7)", "docs/operations.md"),
        ("Issue #14 asked for it", "tests/unit/test_x.py"),
        ("pull request 31", "docs/api.md"),
    ],
)
def test_a_citation_is_found(line: str, path: str) -> None:
    assert list(citations(line, path)), line


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("A token is a signed issue time; tokens issued earlier", "docs/forms.md"),
        ("not in a public issue", "docs/security.md"),
        ("upstream: rq/rq#2379 and https://github.com/rq/rq/issues/2379", "docs/worker.md"),
        ('<p style="color:#666">', "worker/templates/staff.html.j2"),
        ("  color: #333; border: 1px solid #ccc;", "examples/static-site/style.css"),
        ("box-shadow:1px 1px 4px #0003}", "examples/static-site/vendor/x.min.css"),
        ("return '&#39;' + text", "worker/templates.py"),
        ("``my photo#1.png`` stays one path", "services/content/build.py"),
        ('re.compile(r"%(?:\\([^)]*\\))?[-#0 +]*")', "worker/templates.py"),
        ("[Logs](docs/operations.md#logs), RFC 9110 §15.4", "README.md"),
    ],
)
def test_a_look_alike_is_not_a_citation(line: str, path: str) -> None:
    assert not list(citations(line, path)), line
