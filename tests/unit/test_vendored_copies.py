"""Every vendored copy in the project is the file its SHA256SUMS names, unchanged.

Vendored packages (htmx, ALTCHA, the API viewers, axe-core for the browser tests) sit in
``vendor/<package>/`` folders with ``SHA256SUMS`` and ``SOURCE``; a file edited by hand, or one the
sums do not list, fails here.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORDS = ("SHA256SUMS", "SOURCE")


def _sums_files() -> list[Path]:
    tracked = subprocess.run(
        ["git", "ls-files", "*SHA256SUMS"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in tracked]


def test_the_known_vendored_packages_are_there() -> None:
    names = {p.parent.name for p in _sums_files()}
    assert {"htmx", "altcha", "redoc", "swagger-ui-dist", "axe-core"} <= names


@pytest.mark.parametrize("sums", _sums_files(), ids=lambda p: p.parent.name)
def test_every_file_matches_its_sum_and_none_is_unlisted(sums: Path) -> None:
    listed: dict[str, str] = {}
    for line in sums.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name.lstrip("*")] = digest
    folder = sums.parent
    for name, digest in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    present = {p.name for p in folder.iterdir() if p.is_file() and p.name not in RECORDS}
    assert present == set(listed)
    assert "sha256" in (folder / "SOURCE").read_text()
