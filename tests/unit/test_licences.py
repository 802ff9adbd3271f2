"""THIRD-PARTY-LICENSES.md matches uv.lock and the vendored assets; no licence is unknown or copyleft."""

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("licences", ROOT / "scripts" / "licences.py")
assert spec is not None
assert spec.loader is not None
licences = importlib.util.module_from_spec(spec)
sys.modules["licences"] = licences
spec.loader.exec_module(licences)


def table_rows(text: str, heading: str) -> list[list[str]]:
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| ---")
    ][1:]


def test_committed_list_is_current() -> None:
    committed = (ROOT / "THIRD-PARTY-LICENSES.md").read_text(encoding="utf-8")
    assert committed == licences.render(ROOT), (
        "THIRD-PARTY-LICENSES.md is out of date: make licences"
    )


def test_every_locked_image_package_is_listed() -> None:
    listed = {
        (name, version)
        for name, version, _ in table_rows(licences.render(ROOT), "Python packages in the image")
    }
    assert listed == set(licences.image_packages(ROOT / "uv.lock"))
    assert {"litestar", "msgspec", "pyyaml", "redis", "rq"} <= {name for name, _ in listed}
    # the dev group is not in the image
    assert not {"pytest", "mypy", "ruff", "playwright"} & {name for name, _ in listed}


def test_every_licence_is_known_and_not_copyleft() -> None:
    text = licences.render(ROOT)
    rows = table_rows(text, "Python packages in the image") + [
        row[:3] for row in table_rows(text, "Front-end assets")
    ]
    assert rows
    for name, _, licence in rows:
        assert licence, name
        assert licence.upper() not in {"UNKNOWN", "NONE", "-"}, name
        assert re.fullmatch(r"[A-Za-z0-9.+-]+( (AND|OR) [A-Za-z0-9.+-]+)*", licence), (
            name,
            licence,
        )
        assert not licences.COPYLEFT.search(licence), f"{name}: {licence} (review before shipping)"
    assert licences.COPYLEFT.search("AGPL-3.0-only")
    assert licences.COPYLEFT.search("GPL-2.0-or-later")
    assert licences.COPYLEFT.search("LGPL-3.0")
    assert not licences.COPYLEFT.search("MIT")


def test_a_package_added_to_the_lock_without_regenerating_fails(tmp_path: Path) -> None:
    """A copy of the repository whose lock gains a dependency no longer matches the committed list."""
    for name in ("uv.lock", "THIRD-PARTY-LICENSES.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    for top in licences.ASSET_ROOTS:
        shutil.copytree(ROOT / top, tmp_path / top, ignore=shutil.ignore_patterns("__pycache__"))
    lock = (tmp_path / "uv.lock").read_text(encoding="utf-8")
    # frontdesk now also depends on pyyaml's sibling `packaging` (installed in the dev venv)
    project = lock.index('name = "frontdesk"')
    at = lock.index("dependencies = [\n", project) + len("dependencies = [\n")
    (tmp_path / "uv.lock").write_text(
        lock[:at] + '    { name = "packaging" },\n' + lock[at:], encoding="utf-8"
    )
    regenerated = licences.render(tmp_path)
    assert "| packaging |" in regenerated
    assert regenerated != (tmp_path / "THIRD-PARTY-LICENSES.md").read_text(encoding="utf-8")


def test_a_package_at_another_version_than_installed_is_an_error(tmp_path: Path) -> None:
    lock = (ROOT / "uv.lock").read_text(encoding="utf-8")
    version = re.search(r'name = "msgspec"\nversion = "([^"]+)"', lock)
    assert version is not None
    (tmp_path / "uv.lock").write_text(
        lock.replace(
            f'name = "msgspec"\nversion = "{version[1]}"', 'name = "msgspec"\nversion = "0.1"'
        ),
        encoding="utf-8",
    )
    for top in licences.ASSET_ROOTS:
        (tmp_path / top).mkdir()
    with pytest.raises(licences.LicenceError, match=r"msgspec: uv\.lock has 0\.1"):
        licences.render(tmp_path)


def test_vendored_script_without_a_licence_header_is_an_error(tmp_path: Path) -> None:
    for top in licences.ASSET_ROOTS:
        (tmp_path / top).mkdir()
    vendored = tmp_path / "services" / "forms" / "static" / "vendor" / "thing"
    vendored.mkdir(parents=True)
    (vendored / "thing.min.js").write_text("var a=1;", encoding="utf-8")
    with pytest.raises(licences.LicenceError, match=r"nor a 'Name vX\.Y\.Z"):
        licences.assets(tmp_path)
    (vendored / "thing.min.js").write_text(
        "/*!\n * Thing v1.2.3\n * Licensed under the MIT license\n */\nvar a=1;", encoding="utf-8"
    )
    assert licences.assets(tmp_path) == [
        licences.Entry("Thing", "1.2.3", "MIT", "services/forms/static/vendor/thing/")
    ]


def test_vendored_npm_package_is_named_by_its_package_json(tmp_path: Path) -> None:
    for top in licences.ASSET_ROOTS:
        (tmp_path / top).mkdir()
    vendored = tmp_path / "frontdesk" / "docs" / "vendor" / "viewer"
    vendored.mkdir(parents=True)
    (vendored / "viewer.js").write_text("/*! see LICENSE */var a=1;", encoding="utf-8")
    (vendored / "viewer.css").write_text("a{}", encoding="utf-8")
    (vendored / "package.json").write_text(
        '{"name": "viewer-dist", "version": "4.5.6", "license": "Apache-2.0"}', encoding="utf-8"
    )
    assert licences.assets(tmp_path) == [
        licences.Entry("viewer-dist", "4.5.6", "Apache-2.0", "frontdesk/docs/vendor/viewer/")
    ]


def test_the_api_viewers_are_listed_as_served_by_the_image() -> None:
    rows = table_rows(licences.render(ROOT), "Front-end assets")
    listed = {row[0]: row for row in rows}
    assert listed["redoc"][2] == "MIT"
    assert listed["swagger-ui-dist"][2] == "Apache-2.0"
    assert listed["redoc"][4] == listed["swagger-ui-dist"][4] == "image (served)"


def test_the_project_is_apache_2_and_the_image_carries_both_files() -> None:
    import hashlib
    import tomllib
    from importlib.metadata import distribution

    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "APPENDIX: How to apply" in text
    # byte-for-byte the text at https://www.apache.org/licenses/LICENSE-2.0.txt
    assert (
        hashlib.md5((ROOT / "LICENSE").read_bytes()).hexdigest()
        == "3b83ef96387f14655fc854ddc3c6bd57"
    )
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert distribution("frontdesk").metadata["License-Expression"] == "Apache-2.0"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    # hatchling leaves a missing license file out of the wheel silently: the build stage must copy it
    assert re.search(r"^COPY pyproject\.toml uv\.lock README\.md LICENSE \./$", dockerfile, re.M)
    assert re.search(r"^COPY LICENSE THIRD-PARTY-LICENSES\.md /app/$", dockerfile, re.M)
