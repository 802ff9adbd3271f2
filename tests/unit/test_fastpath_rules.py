"""Layering rules of the two request paths, checked on every module's syntax tree (imports inside
functions included): Litestar's internals only in frontdesk/litestar_compat.py, and the content
and forms services never importing each other (what both need is in the core, ``frontdesk/``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPAT = "frontdesk/litestar_compat.py"
# The scope keys Litestar's app and router write; only the compatibility module writes them.
ROUTER_KEYS = {"app", "litestar_app", "route_handler", "path_template", "path_params"}
# Until the site's settings are read by a module of the core, the forms service reads them with
# the content loader; that import goes with it, and this set becomes empty.
PENDING_CROSS_IMPORTS = {
    "services/forms/app.py: services.content.loader",
    "services/forms/app.py: services.content.loader.load_site",
}


def modules() -> list[Path]:
    return sorted(
        path
        for package in ("frontdesk", "services", "worker")
        for path in (ROOT / package).rglob("*.py")
    )


def imported(tree: ast.AST) -> Iterator[str]:
    """Every module name ``tree`` imports, at any depth (``from a import b`` gives ``a`` and
    ``a.b``: ``b`` may be a module)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def is_litestar_internal(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "litestar" and (
        any(part.startswith("_") for part in parts[1:]) or name.startswith("litestar.utils.scope")
    )


def written_scope_keys(tree: ast.AST) -> Iterator[str]:
    """String keys assigned to a subscript (``scope["route_handler"] = ...``) or
    ``setdefault``-ed on anything."""
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                yield str(target.slice.value)


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_walk_sees_imports_inside_functions() -> None:
    tree = ast.parse("def f():\n    from litestar._asgi.utils import is_valid_host\n")
    assert any(is_litestar_internal(name) for name in imported(tree))
    assert not is_litestar_internal("litestar.utils")
    assert is_litestar_internal("litestar.utils.scope.state")


def test_litestar_internals_only_in_the_compatibility_module() -> None:
    offenders = {
        f"{relative(path)}: {name}"
        for path in modules()
        if relative(path) != COMPAT
        for name in imported(ast.parse(path.read_text()))
        if is_litestar_internal(name)
    }
    assert not offenders


def test_only_the_compatibility_module_writes_the_routers_scope_keys() -> None:
    offenders = {
        f"{relative(path)}: {key}"
        for path in modules()
        if relative(path) != COMPAT
        for key in written_scope_keys(ast.parse(path.read_text()))
        if key in ROUTER_KEYS
    }
    assert not offenders


@pytest.mark.parametrize(
    ("service", "other"),
    [("services/content", "services.forms"), ("services/forms", "services.content")],
)
def test_the_services_do_not_import_each_other(service: str, other: str) -> None:
    offenders = {
        f"{relative(path)}: {name}"
        for path in (ROOT / service).rglob("*.py")
        for name in imported(ast.parse(path.read_text()))
        if name == other or name.startswith(other + ".")
    }
    assert offenders <= PENDING_CROSS_IMPORTS
