"""docs/settings.md and .env.example are generated from the Settings type and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec

from frontdesk.settings import Settings, load_settings
from frontdesk.settings_doc import (
    render_env_example,
    render_markdown,
    undocumented,
    variable_of,
    write,
)
from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def test_committed_files_are_current() -> None:
    result = subprocess.run(
        [BIN / "frontdesk", "settings-doc", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(BIN)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_setting_is_described() -> None:
    assert undocumented() == []
    text = render_markdown()
    for field in msgspec.structs.fields(Settings):
        assert f"| `{variable_of(field.name)}` |" in text


def test_check_finds_a_stale_file(tmp_path: Path) -> None:
    assert len(write(tmp_path, check=True)) == 2  # missing counts as stale
    assert write(tmp_path) != []
    assert write(tmp_path, check=True) == []
    (tmp_path / "docs" / "settings.md").write_text("old\n")
    assert write(tmp_path, check=True) == [tmp_path / "docs" / "settings.md"]


def test_env_example_loads_to_the_defaults() -> None:
    values = {}
    for line in render_env_example().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    assert load_settings(values) == Settings()
    commented = [line for line in render_env_example().splitlines() if line.startswith("# FRONT")]
    assert "# FRONTDESK_SECRET_KEY=" in commented
    # A copied .env leaves the log format to scripts/run (text on a terminal).
    assert "# FRONTDESK_LOG_FORMAT=json" in commented
