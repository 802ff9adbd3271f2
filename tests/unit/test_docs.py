"""The docs point at what exists: every file of the repository they name is there, and the README
links every page of docs/. A module moved or renamed without its docs fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]

# A path into the repository: a top-level folder of it, then names, ending in a file's extension.
# Not preceded by a name character, "/" or ".", so URLs and deeper paths (.run/mail/...) are left
# alone; placeholders (<id>, *) end the match and the shorter path is not a file name, so it is
# skipped too.
REPO_PATH = re.compile(
    r"(?<![\w/.-])((?:frontdesk|services|worker|tests|bench|scripts|deploy|examples|docs)"
    r"/[\w./-]*\.(?:py|md|ya?ml|j2|js|html|css|json|sh|toml|lua|txt|conf))\b"
)


def named_paths(text: str) -> list[tuple[int, str]]:
    """``(line, path)`` for every repository file named in ``text``."""
    return [
        (number, match.group(1))
        for number, line in enumerate(text.splitlines(), start=1)
        for match in REPO_PATH.finditer(line)
    ]


def test_the_docs_name_only_files_that_exist() -> None:
    missing = [
        f"{page.relative_to(ROOT)}:{line}: {path}"
        for page in PAGES
        for line, path in named_paths(page.read_text(encoding="utf-8"))
        if not (ROOT / path).exists()
    ]
    assert not missing, "the docs name files that do not exist:\n" + "\n".join(missing)


def test_the_readme_links_every_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unlinked = [page.name for page in DOCS if f"](docs/{page.name})" not in readme]
    assert not unlinked, f"README.md does not link {unlinked}"


@pytest.mark.parametrize(
    ("line", "paths"),
    [
        (
            "Code: `worker/jobs.py` and services/forms/intake.py.",
            ["worker/jobs.py", "services/forms/intake.py"],
        ),
        (
            'see docs/forms.md "Floods" and [ops](docs/operations.md#logs)',
            ["docs/forms.md", "docs/operations.md"],
        ),
        ("`frontdesk:submission:<id>`, frontdesk/v1/<purpose>, deploy/frontdesk-worker", []),
        (".run/mail/new/x.txt and https://example.com/docs/a.md", []),
    ],
)
def test_named_paths(line: str, paths: list[str]) -> None:
    assert [path for _, path in named_paths(line)] == paths
