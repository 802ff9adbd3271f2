"""The image's install step without Docker: `uv sync --locked --no-dev --no-editable`, as
deploy/Dockerfile runs it, into a fresh environment; then every module imports and the site checks
pass with it. Catches runtime code that needs a dev-only package or a file the wheel leaves out."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLINIC_SITE, ROOT

pytestmark = pytest.mark.e2e
PACKAGES = ("frontdesk", "services", "worker")


def test_locked_runtime_install_runs_every_role(tmp_path: Path) -> None:
    # The uv make uses: the one on PATH, else the pinned copy make installs into .tools/.
    uv = shutil.which("uv") or shutil.which(str(ROOT / ".tools" / "bin" / "uv"))
    assert uv, "no uv on PATH nor in .tools/ (make sync installs it there)"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    # The command under test is the Dockerfile's own.
    assert re.search(r"uv sync --locked --no-dev --no-editable$", dockerfile, re.M)
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FRONTDESK_", "VIRTUAL_ENV"))}
    env |= {"UV_PROJECT_ENVIRONMENT": str(venv), "UV_LINK_MODE": "copy"}
    subprocess.run(
        [uv, "sync", "--locked", "--no-dev", "--no-editable", "--quiet"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )
    python = venv / "bin" / "python"
    assert not (venv / "bin" / "pytest").exists()  # no dev tools in the image
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    )
    # Import from the installed wheel, not the working tree.
    script = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    imported = subprocess.run(
        [python, "-I", "-c", script, *modules], cwd=tmp_path, capture_output=True, text=True
    )
    assert imported.returncode == 0, imported.stderr
    site_packages = next(venv.glob("lib/python*/site-packages"))
    shipped = {p.relative_to(ROOT) for p in (ROOT / "worker").rglob("*") if p.is_file()}
    for relative in shipped:
        if "__pycache__" not in relative.parts:
            assert (site_packages / relative).exists(), f"{relative} is missing from the wheel"
    for role in ("content", "forms"):
        result = subprocess.run(
            [venv / "bin" / "frontdesk", role, "check", CLINIC_SITE],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
