"""Only frontdesk/litestar_compat.py writes the scope keys Litestar's app and router write
(``scope["route_handler"] = ...``): a fast path that enters a route goes through
:func:`frontdesk.litestar_compat.enter_route`, whose behaviour tests/unit/test_litestar_compat.py
pins. Checked on every module's syntax tree, functions included.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPAT = "frontdesk/litestar_compat.py"
ROUTER_KEYS = {"app", "litestar_app", "route_handler", "path_template", "path_params"}


def written_keys(tree: ast.AST) -> Iterator[str]:
    """The constant keys of every subscript assigned to in ``tree`` (``x["k"] = ...``,
    ``x["k"] += ...``, ``x["k"]: T = ...``)."""
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                yield str(target.slice.value)


def test_the_walk_sees_writes_inside_functions() -> None:
    tree = ast.parse('def f(scope):\n    scope["app"] = scope["litestar_app"] = None\n')
    assert set(written_keys(tree)) == {"app", "litestar_app"}


def test_only_the_compatibility_module_writes_the_routers_scope_keys() -> None:
    offenders = {
        f"{path.relative_to(ROOT).as_posix()}: {key}"
        for package in ("frontdesk", "services", "worker")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.relative_to(ROOT).as_posix() != COMPAT
        for key in written_keys(ast.parse(path.read_text()))
        if key in ROUTER_KEYS
    }
    assert not offenders
