"""The reloadable forms of a process: each form file on its own, the last good definition of a
broken one kept, a removed file's form gone, a broken ``site.yaml`` keeping its last settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from frontdesk.site import SiteSettingsError, form_ids, read_site_settings
from frontdesk.submissions.catalog import Catalog
from tests.conftest import CLINIC_SITE


@pytest.fixture
def site(tmp_path: Path) -> Path:
    copy = tmp_path / "site"
    shutil.copytree(CLINIC_SITE, copy)
    contact = (copy / "forms" / "contact.yaml").read_text()
    (copy / "forms" / "intake.yaml").write_text(contact.replace("id: contact", "id: intake", 1))
    return copy


def test_a_broken_file_keeps_its_last_good_definition_and_leaves_the_others(site: Path) -> None:
    catalog = Catalog(site)
    assert catalog.load()
    good = catalog.forms["intake"]
    (site / "forms" / "intake.yaml").write_text("id: intake\ntitle: [unclosed\n")

    assert not catalog.load()
    assert sorted(catalog.forms) == ["callback", "contact"]  # what the public is served
    assert catalog.definitions["intake"] is good  # what mail of stored submissions is built from
    [problem] = catalog.broken["intake"]
    assert problem.startswith("forms/intake.yaml: $: not readable YAML")
    assert catalog.problems == [problem]


def test_a_form_broken_from_the_start_has_no_definition_until_fixed(site: Path) -> None:
    intake = site / "forms" / "intake.yaml"
    good = intake.read_text()
    intake.write_text(good.replace("sender:", "sendr:", 1))
    catalog = Catalog(site)
    catalog.load()
    assert "intake" not in catalog.definitions
    assert catalog.broken["intake"][0].startswith("forms/intake.yaml: $: Object contains unknown")

    intake.write_text(good)
    assert catalog.load()
    assert sorted(catalog.forms) == ["callback", "contact", "intake"]
    assert catalog.broken == {}


def test_a_removed_file_removes_its_form(site: Path) -> None:
    catalog = Catalog(site)
    catalog.load()
    (site / "forms" / "intake.yaml").unlink()
    assert catalog.load()
    assert sorted(catalog.forms) == sorted(catalog.definitions) == ["callback", "contact"]


def test_a_broken_site_yaml_keeps_the_last_site_settings(site: Path) -> None:
    catalog = Catalog(site)
    catalog.load()
    assert catalog.site is not None
    before = catalog.site
    (site / "site.yaml").write_text("base_url: [unclosed\n")

    assert not catalog.load()
    assert catalog.site is before
    assert catalog.problems[0].startswith("site.yaml: $: not readable YAML")
    assert sorted(catalog.forms) == ["callback", "contact", "intake"]


def test_site_settings_read_only_what_the_forms_need(tmp_path: Path) -> None:
    """``site.yaml``'s other keys (navigation, collections) are the content's: never checked here."""
    (tmp_path / "site.yaml").write_text(
        "name: X\nbase_url: https://x.example\nnavigation: [{label: Home, page: missing}]\n"
    )
    settings = read_site_settings(tmp_path)
    assert (settings.base_url, settings.default_region) == ("https://x.example", "US")
    assert form_ids(tmp_path) is None  # no forms/ folder: nothing to check references against
    (tmp_path / "site.yaml").write_text("name: X\ndefault_region: usa\n")
    with pytest.raises(SiteSettingsError, match=r"^site\.yaml: \$"):
        read_site_settings(tmp_path)
