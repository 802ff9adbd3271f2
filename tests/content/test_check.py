"""`frontdesk content check DIR`: one purpose-built broken site per load-time rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontdesk.cli import main
from services.content.loader import SiteError, load_site
from tests.conftest import CLINIC_SITE
from tests.content.sites import write_files


def check(capsys: pytest.CaptureFixture[str], root: Path) -> tuple[int, list[str]]:
    code = main(["content", "check", str(root)])
    return code, capsys.readouterr().out.splitlines()


@pytest.mark.usefixtures("env")
def test_clean_site_exits_0_with_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = check(capsys, write_files(tmp_path, {}))
    assert code == 0
    # Drafts are counted apart: the API shows only what is published.
    assert out == ["ok: 1/2 page(s) published; items published/all: faqs 2/2, team 1/1, posts 0/1"]


@pytest.mark.usefixtures("env")
def test_clinic_site_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(capsys, CLINIC_SITE)
    assert code == 0
    assert out[0].startswith(
        "ok: 1/1 page(s) published; items published/all: faqs 0/0, therapies 3/3,"
    )
    assert out[0].endswith("posts 0/1")


BROKEN: dict[str, tuple[dict[str, str | None], list[str]]] = {
    "duplicate_page_slug": (
        {"pages/zz-copy.yaml": "slug: home\ntitle: Copy\n"},
        ["pages/zz-copy.yaml: $.slug: duplicate slug 'home' (also in pages/home.yaml)"],
    ),
    "duplicate_item_slug": (
        {"collections/faqs/zz.yaml": "slug: cost\nquestion: Q?\nanswer: A.\n"},
        [
            "collections/faqs/zz.yaml: $.slug: duplicate slug 'cost' "
            "(also in collections/faqs/cost.yaml)"
        ],
    ),
    "pick_unknown_item": (
        {
            "pages/p.yaml": """
                slug: p
                title: P
                sections:
                  - {type: collection, heading: Team, collection: team, pick: [ana, bob]}
            """
        },
        ["pages/p.yaml: $.sections[0].pick[1]: unknown item 'bob' in collection 'team'"],
    ),
    "pick_draft_item": (
        {
            "pages/p.yaml": """
                slug: p
                title: P
                sections:
                  - {type: collection, heading: Blog, collection: posts, pick: [draft-post]}
            """
        },
        [
            "pages/p.yaml: $.sections[0].pick[0]: item 'draft-post' is a draft; "
            "a published page may not show it"
        ],
    ),
    "comparison_row_width": (
        {
            "pages/p.yaml": """
                slug: p
                title: P
                sections:
                  - type: comparison
                    heading: C
                    columns: [A, B]
                    rows:
                      - {label: ok, values: ["1", "2"]}
                      - {label: bad, values: ["1", "2", "3"]}
            """
        },
        ["pages/p.yaml: $.sections[0].rows[1]: expected 2 values, got 3"],
    ),
    "empty_heading": (
        {
            "pages/p.yaml": """
                slug: p
                title: P
                sections:
                  - {type: rich_text, id: intro, heading: "  ", body: x}
            """
        },
        ["pages/p.yaml: $.sections[0].heading: empty heading"],
    ),
    "image_without_alt": (
        {"collections/team/ana.yaml": "name: Ana\nphoto: {src: ana.jpg, alt: ''}\n"},
        ["collections/team/ana.yaml: $.photo.alt: image without alt text"],
    ),
    "image_missing_asset": (
        {"collections/team/ana.yaml": "name: Ana\nphoto: {src: nope.jpg, alt: Ana}\n"},
        ["collections/team/ana.yaml: $.photo.src: no file assets/nope.jpg"],
    ),
    "redirect_loop": (
        {
            "site.yaml": """
                name: S
                base_url: https://s.example
                collections:
                  - {name: faqs, kind: faq}
                  - {name: team, kind: person}
                  - {name: posts, kind: post}
                redirects: {a: b, b: c, c: a}
            """
        },
        [
            "site.yaml: $.redirects.a: redirect loop: a -> b -> c -> a",
            "site.yaml: $.redirects.b: redirect loop: b -> c -> a -> b",
            "site.yaml: $.redirects.c: redirect loop: c -> a -> b -> c",
        ],
    ),
    "redirect_to_unknown_page": (
        {
            "site.yaml": """
                name: S
                base_url: https://s.example
                collections:
                  - {name: faqs, kind: faq}
                  - {name: team, kind: person}
                  - {name: posts, kind: post}
                redirects: {old: gone}
            """
        },
        ["site.yaml: $.redirects.old: redirect to unknown page 'gone'"],
    ),
    "redirect_shadows_page": (
        {
            "site.yaml": """
                name: S
                base_url: https://s.example
                collections:
                  - {name: faqs, kind: faq}
                  - {name: team, kind: person}
                  - {name: posts, kind: post}
                redirects: {about: home}
            """
        },
        [
            "site.yaml: $.redirects.about: redirect from 'about' shadows the page in pages/about.yaml"
        ],
    ),
    "unknown_key_in_page": (
        {"pages/p.yaml": "slug: p\ntitle: P\nsubtitle: nope\n"},
        ["pages/p.yaml: $: Object contains unknown field `subtitle`"],
    ),
    "unknown_key_in_section": (
        {
            "pages/p.yaml": """
                slug: p
                title: P
                sections:
                  - {type: rich_text, heading: H, body: x, colour: red}
            """
        },
        ["pages/p.yaml: $.sections[0]: Object contains unknown field `colour`"],
    ),
    "unknown_section_type": (
        {"pages/p.yaml": "slug: p\ntitle: P\nsections:\n  - {type: video, heading: H}\n"},
        ["pages/p.yaml: $.sections[0].type: Invalid value 'video'"],
    ),
    "unknown_key_in_item": (
        {"collections/faqs/cost.yaml": "question: Q?\nanswer: A.\nprice: 3\n"},
        ["collections/faqs/cost.yaml: $: Object contains unknown field `price`"],
    ),
    "unknown_collection": (
        {
            "pages/p.yaml": """
                slug: p
                title: P
                sections:
                  - {type: collection, heading: X, collection: videos}
            """
        },
        ["pages/p.yaml: $.sections[0].collection: unknown collection 'videos'"],
    ),
    "unknown_form": (
        {
            "pages/p.yaml": "slug: p\ntitle: P\nsections:\n  - {type: form, heading: F, form: nope}\n"
        },
        ["pages/p.yaml: $.sections[0].form: unknown form 'nope'"],
    ),
    "duplicate_section_id": (
        {
            "pages/p.yaml": """
                slug: p
                title: P
                sections:
                  - {type: rich_text, heading: Same, body: x}
                  - {type: rich_text, heading: Same!, body: y}
            """
        },
        ["pages/p.yaml: $.sections[1].id: duplicate section id 'same' (also $.sections[0])"],
    ),
    "pick_and_query": (
        {
            "pages/p.yaml": """
                slug: p
                title: P
                sections:
                  - {type: collection, heading: T, collection: team, pick: [ana], query: {limit: 1}}
            """
        },
        ["pages/p.yaml: $.sections[0].query: use either pick or query, not both"],
    ),
    "unknown_sort_field": (
        {
            "pages/p.yaml": """
                slug: p
                title: P
                sections:
                  - {type: collection, heading: T, collection: team, query: {sort: -date}}
            """
        },
        ["pages/p.yaml: $.sections[0].query.sort: person items have no field 'date'"],
    ),
    "navigation_to_unknown_page": (
        {
            "site.yaml": """
                name: S
                base_url: https://s.example
                collections:
                  - {name: faqs, kind: faq}
                  - {name: team, kind: person}
                  - {name: posts, kind: post}
                navigation: [{label: Gone, page: gone}]
            """
        },
        ["site.yaml: $.navigation[0].page: unknown page 'gone'"],
    ),
    "unconfigured_collection_folder": (
        {"collections/videos/v.yaml": "title: V\n"},
        ["site.yaml: $.collections: folder collections/videos is not a configured collection"],
    ),
    "bad_slug": (
        {"pages/p.yaml": "slug: Not A Slug\ntitle: P\n"},
        ["pages/p.yaml: $.slug: Expected `str` matching regex '^[a-z0-9]+(?:-[a-z0-9]+)*$'"],
    ),
    "broken_page_no_cascade": (
        # Navigation and the redirect point at "home": its own problem is the only one reported.
        {"pages/home.yaml": "slug: home\ntitle: Home\nsubtitle: x\n"},
        ["pages/home.yaml: $: Object contains unknown field `subtitle`"],
    ),
    "broken_item_no_cascade": (
        {"collections/team/ana.yaml": "name: Ana\nage: 3\n"},
        ["collections/team/ana.yaml: $: Object contains unknown field `age`"],
    ),
    "not_yaml": (
        {"pages/p.yaml": "slug: [unclosed\n"},
        ["pages/p.yaml: $: not readable YAML: while parsing a flow sequence"],
    ),
}


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("rule", list(BROKEN))
def test_broken_site_reports_file_and_path(
    rule: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    changes, expected = BROKEN[rule]
    code, out = check(capsys, write_files(tmp_path, changes))
    assert code == 1
    assert out == expected


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    changes: dict[str, str | None] = {}
    for rule in ("comparison_row_width", "image_without_alt", "unknown_key_in_item"):
        changes.update(BROKEN[rule][0])
    changes["pages/q.yaml"] = "slug: home\ntitle: Q\n"
    with pytest.raises(SiteError) as caught:
        load_site(write_files(tmp_path, changes))
    assert sorted(str(p) for p in caught.value.problems) == sorted(
        [
            "collections/faqs/cost.yaml: $: Object contains unknown field `price`",
            "collections/team/ana.yaml: $.photo.alt: image without alt text",
            "pages/p.yaml: $.sections[0].rows[1]: expected 2 values, got 3",
            "pages/q.yaml: $.slug: duplicate slug 'home' (also in pages/home.yaml)",
        ]
    )


def test_missing_site_yaml(tmp_path: Path) -> None:
    with pytest.raises(SiteError) as caught:
        load_site(tmp_path)
    assert [(p.file, p.path) for p in caught.value.problems] == [("site.yaml", "$")]


def test_quoted_dates_and_numbers_are_read_as_editors_mean(tmp_path: Path) -> None:
    site = load_site(
        write_files(
            tmp_path,
            {
                "collections/posts/draft-post.yaml": 'title: T\ndate: "2026-01-01"\n',
                "collections/team/ana.yaml": (
                    'name: Ana\nphoto: {src: ana.jpg, alt: Ana, width: "640", height: "480"}\n'
                ),
            },
        )
    )
    post = site.collections["posts"]["draft-post"].item
    assert str(getattr(post, "date", None)) == "2026-01-01"
    photo = getattr(site.collections["team"]["ana"].item, "photo", None)
    assert (photo.width, photo.height) == (640, 480)  # type: ignore[union-attr]
