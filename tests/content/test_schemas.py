"""`frontdesk content schema OUT`: JSON Schema files that accept the clinic site's YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from frontdesk.cli import main
from tests.conftest import CLINIC_SITE


@pytest.mark.usefixtures("env")
def test_schema_command_writes_one_file_per_yaml_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["content", "schema", str(tmp_path / "schemas")]) == 0
    written = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert written == [
        "item-entry.schema.json",
        "item-faq.schema.json",
        "item-person.schema.json",
        "item-post.schema.json",
        "page.schema.json",
        "site.schema.json",
    ]
    assert len(capsys.readouterr().out.splitlines()) == 6
    page = json.loads((tmp_path / "schemas/page.schema.json").read_text())
    assert page["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    definitions = page["$defs"]
    assert definitions["Page"]["additionalProperties"] is False
    section = definitions["Page"]["properties"]["sections"]["items"]
    assert section["discriminator"]["propertyName"] == "type"
    assert set(section["discriminator"]["mapping"]) == {
        "rich_text",
        "list",
        "comparison",
        "steps",
        "collection",
        "form",
    }
    site = json.loads((tmp_path / "schemas/site.schema.json").read_text())
    clinic = yaml.safe_load((CLINIC_SITE / "site.yaml").read_text())
    assert set(clinic) <= set(site["$defs"]["SiteConfig"]["properties"])
