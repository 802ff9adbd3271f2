"""Write THIRD-PARTY-LICENSES.md: the licence of everything the image and the served assets bundle.

`make licences` runs it; tests/unit/test_licences.py regenerates the text in memory and fails when the
committed file differs, so a package added to uv.lock without rerunning this is caught.

Sources:
- Python packages: those `uv sync --locked --no-dev` installs (deploy/Dockerfile), i.e. the packages
  reachable in uv.lock from the project's own `dependencies` (with the extras they ask for), not its
  dev group. Markers are evaluated for the image: Linux, CPython, this interpreter's Python version
  (the image's base is `python:3.11-slim`, the venv's interpreter is 3.11 too). Each licence comes from
  the package's installed metadata in this virtual environment (core metadata 2.4 `License-Expression`,
  else the first line of `License`, else the `License ::` classifiers), so the venv must match the lock
  (`uv sync --locked`); a version mismatch is an error, not a stale line.
- Front-end assets: JavaScript (`.js`, `.mjs`, `.cjs`) and CSS under frontdesk/, services/,
  worker/ and examples/. Files under a `vendor/<package>/` directory are third-party: name, version
  and licence come from the npm package's `package.json` copied beside them (`name`, `version`,
  `license`), else from the header comment of the package's JavaScript (`/* Name vX.Y.Z ...
  Licensed under the MIT license */`, the form npm builds ship). Every other file is Frontdesk's own
  (Apache-2.0) and listed as such.

Usage: `python scripts/licences.py` (writes the file) or `--check` (exit 1 when it is out of date).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from packaging.markers import Marker, default_environment

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "THIRD-PARTY-LICENSES.md"
PROJECT = "frontdesk"
ASSET_ROOTS = ("frontdesk", "services", "worker", "examples")
ASSET_SUFFIXES = {".js", ".mjs", ".cjs", ".css"}

# Metadata spellings (License field first lines, classifiers) -> SPDX identifiers.
ALIASES = {
    "MIT License": "MIT",
    "Apache Software License": "Apache-2.0",
    "Apache License 2.0": "Apache-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "Unlicense": "Unlicense",
    "ISC License (ISCL)": "ISC",
    "Python Software Foundation License": "PSF-2.0",
}
# Packages whose metadata names no precise licence: the licence file they ship says which.
OVERRIDES = {
    # Metadata: only the classifier "BSD License"; LICENSE.txt is the 3-clause text.
    "jinja2": "BSD-3-Clause",
    # Metadata: only the classifier "BSD License"; LICENSE is the 3-clause text.
    "segno": "BSD-3-Clause",
}
# Licences that would make distributing the image under Apache-2.0 need a closer look (copyleft).
COPYLEFT = re.compile(r"\b(A|L)?GPL\b|\bSSPL\b|\bEUPL\b", re.IGNORECASE)


class LicenceError(Exception):
    """The venv does not match uv.lock, or a package or asset names no licence."""


@dataclass(frozen=True)
class Entry:
    """One row: a package or asset, its version and its licence (an SPDX expression)."""

    name: str
    version: str
    licence: str
    where: str = ""


def image_environment() -> dict[str, str]:
    """The marker environment of the image: Linux and CPython, this interpreter's Python version."""
    env = {key: str(value) for key, value in default_environment().items()}
    env.update(
        sys_platform="linux",
        platform_system="Linux",
        os_name="posix",
        implementation_name="cpython",
        platform_python_implementation="CPython",
    )
    return env


def image_packages(lock_path: Path) -> list[tuple[str, str]]:
    """(name, version) of every package `uv sync --no-dev` installs, the project excluded, sorted."""
    lock: dict[str, Any] = tomllib.loads(lock_path.read_text(encoding="utf-8"))
    by_name: dict[str, list[dict[str, Any]]] = {}
    for p in lock["package"]:
        by_name.setdefault(p["name"], []).append(p)
    env = image_environment()

    def find(dep: dict[str, Any]) -> dict[str, Any]:
        candidates = by_name[dep["name"]]
        if "version" in dep:  # uv names the version when the lock holds several
            candidates = [p for p in candidates if p["version"] == dep["version"]]
        (only,) = candidates
        return only

    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    todo: list[tuple[dict[str, Any], tuple[str, ...]]] = [(find({"name": PROJECT}), ())]
    installed: set[tuple[str, str]] = set()
    while todo:
        package, extras = todo.pop()
        deps = list(package.get("dependencies", []))
        for extra in extras:
            deps += package.get("optional-dependencies", {}).get(extra, [])
        for dep in deps:
            marker = dep.get("marker")
            if marker and not Marker(marker).evaluate(env):
                continue
            target = find(dep)
            key = (target["name"], target["version"], tuple(dep.get("extra", [])))
            if key not in seen:
                seen.add(key)
                installed.add(key[:2])
                todo.append((target, key[2]))
    installed.discard((PROJECT, find({"name": PROJECT})["version"]))
    return sorted(installed)


def package_licence(name: str, version: str) -> str:
    """The SPDX licence expression of the installed package `name`, which must be at `version`."""
    try:
        meta = distribution(name).metadata.json  # lower-case keys; multiple-use ones are lists
    except PackageNotFoundError:
        raise LicenceError(
            f"{name} {version} is in uv.lock but not installed: uv sync --locked"
        ) from None
    if meta["version"] != version:
        raise LicenceError(
            f"{name}: uv.lock has {version}, the venv {meta['version']}: uv sync --locked"
        )
    if name in OVERRIDES:
        return OVERRIDES[name]
    if expression := str(meta.get("license_expression", "")).strip():
        return expression
    field = str(meta.get("license", "")).strip().splitlines()
    if field and field[0].strip() and field[0].strip().upper() != "UNKNOWN":
        first = field[0].strip()
        if first in ALIASES or len(field) == 1:
            return ALIASES.get(first, first)
    classified = [
        ALIASES.get(c.rsplit(" :: ", 1)[-1], c.rsplit(" :: ", 1)[-1])
        for c in meta.get("classifier", [])
        if c.startswith("License :: ")
    ]
    if classified:
        return " OR ".join(classified)
    raise LicenceError(f"{name} {version}: its metadata names no licence; add it to OVERRIDES")


HEADER = re.compile(
    r"/\*!?\s*(?:\*\s*)?(?P<name>[^\n*]+?)\s+v(?P<version>\d+\.\d+\.\d+\S*)"
    r".*?Licensed under the (?P<licence>[\w.-]+) licen[cs]e",
    re.DOTALL | re.IGNORECASE,
)


def assets(root: Path) -> list[Entry]:
    """The JavaScript and CSS files under ASSET_ROOTS: vendored packages by header, then our own."""
    files = sorted(
        path
        for top in ASSET_ROOTS
        for path in (root / top).rglob("*")
        if path.suffix in ASSET_SUFFIXES and path.is_file()
    )
    vendored: dict[Path, Entry] = {}
    own: list[Entry] = []
    for path in files:
        relative = path.relative_to(root)
        parts = relative.parts
        if "vendor" in parts[:-1]:
            package_dir = Path(*parts[: parts.index("vendor") + 2])
            if path.suffix == ".css":
                continue  # the package's CSS is covered by its JavaScript's header
            manifest = root / package_dir / "package.json"
            if manifest.is_file():  # the npm package's own package.json, copied with its files
                meta = json.loads(manifest.read_text(encoding="utf-8"))
                vendored[package_dir] = Entry(
                    str(meta["name"]), str(meta["version"]), str(meta["license"]), f"{package_dir}/"
                )
                continue
            match = HEADER.search(path.read_text(encoding="utf-8")[:1000])
            if match is None:
                raise LicenceError(
                    f"{relative}: no package.json beside it, nor a 'Name vX.Y.Z ... Licensed under'"
                    " header"
                )
            licence = ALIASES.get(f"{match['licence']} License", match["licence"])
            vendored[package_dir] = Entry(
                match["name"].strip(), match["version"], licence, f"{package_dir}/"
            )
        else:
            own.append(Entry("Frontdesk", "", "Apache-2.0", str(relative)))
    return sorted(vendored.values(), key=lambda e: e.where) + own


def shipped_in(where: str) -> str:
    """Whether an asset path goes into the image (package data) or only the repository's examples."""
    if where.startswith("examples/"):
        return "repository (example site), not the image"
    return "image (served)"


def render(root: Path = ROOT) -> str:
    """The whole THIRD-PARTY-LICENSES.md text; raises LicenceError when a licence is unknown."""
    rows = [
        Entry(name, version, package_licence(name, version))
        for name, version in image_packages(root / "uv.lock")
    ]
    lines = [
        "# Third-party licences",
        "",
        "Frontdesk is licensed under Apache-2.0 (`LICENSE`). This file lists the licences of what the",
        "container image and the served front-end assets bundle. It is generated by `make licences`",
        "(`scripts/licences.py`) from `uv.lock` and the installed packages' metadata, and from the header",
        "comments or `package.json` of vendored JavaScript; `tests/unit/test_licences.py` fails when it",
        "is out of date.",
        "The image's base (`python:3.11-slim`: Debian packages and CPython, PSF-2.0) is not listed; its",
        "licences are in the image under `/usr/share/doc/*/copyright`.",
        "",
        "## Python packages in the image",
        "",
        "What `uv sync --locked --no-dev` installs (deploy/Dockerfile); the dev group is not shipped.",
        "",
        "| Package | Version | Licence |",
        "| --- | --- | --- |",
        *(f"| {e.name} | {e.version} | {e.licence} |" for e in rows),
        "",
        "## Front-end assets",
        "",
        "| Asset | Version | Licence | Path | Shipped in |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {e.name} | {e.version or '-'} | {e.licence} | `{e.where}` | {shipped_in(e.where)} |"
            for e in assets(root)
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write OUTPUT, or with --check compare it and exit 1 when it differs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    try:
        text = render()
    except LicenceError as error:
        print(f"licences: {error}", file=sys.stderr)
        return 2
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.name} is out of date: make licences", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
