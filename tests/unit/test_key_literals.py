"""Every Redis key name is spelled in one module, frontdesk/submissions/keys.py: a ``frontdesk:``
string anywhere else in the code is a key name copied, which drifts from the original.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("frontdesk", "services", "worker")
KEYS_MODULE = ROOT / "frontdesk" / "submissions" / "keys.py"
# A key name: the prefix, then its next part or nothing (``f"frontdesk:{x}"``). The prefix
# followed by a space is a message (``f"frontdesk: {exc}"``, the CLI's errors), not a key.
KEY_LITERAL = re.compile(r"frontdesk:(\S|$)")


def key_literals(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of every str constant in ``path`` that starts like a key name, the
    literal parts of f-strings included (they are ``Constant`` nodes of a ``JoinedStr``).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and KEY_LITERAL.match(node.value)
    ]


def test_no_key_literal_outside_the_keys_module() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != KEYS_MODULE
        for line, text in key_literals(path)
    ]
    assert found == [], "Redis key names belong in frontdesk/submissions/keys.py:\n" + "\n".join(
        found
    )


def test_the_walk_sees_key_literals_and_f_string_parts(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text(
        'A = "frontdesk:submission:1"\n'
        'def f(i):\n    return f"frontdesk:{i}"\n'
        'B = f"frontdesk: {A} failed"\n'  # a message, not a key
        'C = "rq:frontdesk:x"\n',  # the prefix not at the start
        encoding="utf-8",
    )
    assert key_literals(module) == [(1, "frontdesk:submission:1"), (3, "frontdesk:")]
    assert key_literals(KEYS_MODULE)  # the keys module itself spells them
