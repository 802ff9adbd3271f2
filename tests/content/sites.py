"""Purpose-built site directories for the content tests: a small valid site and edits of it."""

from __future__ import annotations

import textwrap
from pathlib import Path

BASE: dict[str, str] = {
    "site.yaml": """
        name: Test Clinic
        base_url: https://clinic.example
        collections:
          - {name: faqs, kind: faq, sort: question}
          - {name: team, kind: person, sort: name}
          - {name: posts, kind: post, sort: -date, empty_message: "No posts published yet."}
        navigation:
          - {label: Home, page: home}
        redirects:
          old-home: home
    """,
    "pages/home.yaml": """
        slug: home
        title: Home
        sections:
          - type: rich_text
            heading: Welcome
            body: Hello *there*.
          - type: comparison
            heading: Compare
            columns: [A, B]
            rows:
              - {label: One, values: [a1, b1]}
          - type: collection
            heading: Team
            collection: team
            pick: [ana]
          - type: collection
            heading: Blog
            collection: posts
            query: {limit: 2}
          - type: form
            heading: Contact
            form: contact
    """,
    "pages/about.yaml": """
        slug: about
        title: About
        status: draft
        sections: []
    """,
    "collections/faqs/cost.yaml": """
        question: What does it cost?
        answer: It depends.
        tags: [billing]
    """,
    "collections/faqs/hours.yaml": """
        question: When are you open?
        answer: Weekdays.
        tags: [visits]
    """,
    "collections/team/ana.yaml": """
        name: Ana Example
        role: Physical therapist
        photo: {src: ana.jpg, alt: Ana smiling, width: 10, height: 10}
    """,
    "collections/posts/draft-post.yaml": """
        title: Not yet
        date: 2026-01-01
        status: draft
    """,
    "forms/contact.yaml": """
        id: contact
    """,
}


def write_files(root: Path, changes: dict[str, str | None]) -> Path:
    """Write the base site under ``root``, replacing files by ``changes`` (``None`` deletes one)."""
    files: dict[str, str | None] = {**BASE, **changes}
    for name, text in files.items():
        if text is None:
            continue
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    (root / "assets").mkdir(exist_ok=True)
    (root / "assets" / "ana.jpg").write_bytes(b"\xff\xd8\xff\xe0fake-jpeg")
    return root
