"""The vendored OpenAPI viewers (frontdesk/apidocs/vendor) are the pinned files their records name."""

import hashlib
import json
from pathlib import Path

import pytest

from frontdesk.apidocs import VENDOR, vendored

FOLDERS = sorted(p for p in VENDOR.iterdir() if p.is_dir())


def test_both_viewers_are_vendored() -> None:
    assert {p.name for p in vendored().values()} == {"redoc", "swagger-ui-dist"}
    assert [p.name for p in FOLDERS] == ["redoc", "swagger-ui-dist"]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_file_matches_its_sha256(folder: Path) -> None:
    sums = dict(
        reversed(line.split(maxsplit=1))
        for line in (folder / "SHA256SUMS").read_text().splitlines()
    )
    files = {p.name for p in folder.iterdir()} - {"SHA256SUMS", "SOURCE"}
    assert set(sums) == files
    for name, digest in sums.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    assert "LICENSE" in files


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_source_names_the_pinned_package(folder: Path) -> None:
    meta = json.loads((folder / "package.json").read_text())
    source = (folder / "SOURCE").read_text()
    assert source.startswith(
        f"npm package: {meta['name']}@{meta['version']} (licence {meta['license']})"
    )
    assert "tarball integrity: sha512-" in source


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_served_files_name_no_cdn(folder: Path) -> None:
    for path in folder.iterdir():
        if path.suffix in {".js", ".css"}:
            text = path.read_text(encoding="utf-8")
            for host in ("https://cdn.", "fonts.googleapis.com", "fonts.gstatic.com", "unpkg.com"):
                assert host not in text, (path.name, host)
