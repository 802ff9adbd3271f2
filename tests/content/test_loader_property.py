"""Property: no YAML document makes the loader raise anything but SiteError."""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.content.loader import SiteError, load_site
from tests.content.sites import BASE, write_files

TARGETS = [
    "site.yaml",
    "pages/home.yaml",
    "collections/faqs/cost.yaml",
    "collections/team/ana.yaml",
    "collections/posts/draft-post.yaml",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.dates(),
    st.datetimes(),
    st.sampled_from(["home", "ana", "faqs", "posts", "rich_text", "collection", "draft", "-date"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=10), st.sampled_from(["type", "slug", "pick", "alt"])),
            children,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


def _mutate(document: Any, path: list[int], value: Any) -> Any:
    """Replace one node of ``document`` (chosen by ``path`` indexes) with ``value``."""
    if not path or not isinstance(document, dict | list) or not document:
        return value
    keys = list(document) if isinstance(document, dict) else list(range(len(document)))
    key = keys[path[0] % len(keys)]
    document[key] = _mutate(document[key], path[1:], value)
    return document


def _load(target: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_files(Path(tmp), {target: text})
        problems = []
        try:
            load_site(root)
        except SiteError as exc:
            problems = exc.problems
            if not problems:
                raise AssertionError("SiteError without problems") from exc
        assert all(p.file and p.path.startswith("$") for p in problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=st.sampled_from(TARGETS), document=values)
def test_random_documents(target: str, document: Any) -> None:
    _load(target, yaml.safe_dump(document))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    target=st.sampled_from(TARGETS),
    path=st.lists(st.integers(min_value=0, max_value=50), max_size=6),
    value=values,
)
def test_mutated_valid_documents(target: str, path: list[int], value: Any) -> None:
    document = yaml.safe_load(textwrap.dedent(BASE[target]))
    _load(target, yaml.safe_dump(_mutate(document, path, value)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=st.sampled_from(TARGETS), text=st.text(max_size=200))
def test_random_text(target: str, text: str) -> None:
    _load(target, text)
