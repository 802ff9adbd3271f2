"""Rich results: the page answer's schema.org JSON-LD (``structured_data`` and the script-safe
``structured_data_json``) over a copy of the clinic site with FAQ items and professionals added.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from services.content.loader import SiteError, load_site
from tests.conftest import CLINIC_SITE
from tests.content.conftest import ClientFactory

SLUG = "dry-needling-therapy-for-joint-pain"
ATTACK = "</script><script>alert(1)</script>"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    """A copy of the clinic site (its FAQ and professionals collections are empty)."""
    target = tmp_path / "clinic-site"
    shutil.copytree(CLINIC_SITE, target)
    return target


def _with_items(site: Path) -> None:
    _write(
        site,
        {
            "collections/faqs/does-it-hurt.yaml": """
                question: Does dry needling hurt?
                answer: Most people feel a brief *twitch*, then relief.
            """,
            "collections/faqs/how-many.yaml": """
                question: How many sessions will I need?
                answer: Usually three to six. See [our prices](https://clinic.example/prices).
            """,
            "collections/faqs/later.yaml": """
                question: A draft question?
                answer: Not shown yet.
                status: draft
            """,
            "collections/professionals/ana.yaml": """
                name: Ana Lima
                role: Physical Therapist
                credentials: PT, DPT
                bio: Ana has treated joint pain for **ten years**.
                photo: {src: "https://cdn.clinic.example/ana.jpg", alt: Ana Lima smiling}
                same_as: ["https://www.linkedin.com/in/ana-lima-example"]
            """,
            "collections/professionals/ben.yaml": """
                name: Ben Okafor
            """,
        },
    )


def _page(client: TestClient) -> dict[str, Any]:  # type: ignore[type-arg]
    response = client.get(f"/v1/pages/{SLUG}")
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    # The serialized string is the same data: a frontend can use either.
    assert json.loads(page["structured_data_json"]) == page["structured_data"]
    return page


def _of_type(page: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [o for o in page["structured_data"] if o["@type"] == type_]


def test_no_faq_page_while_the_faq_collection_is_empty(make_client: ClientFactory) -> None:
    page = _page(make_client())
    types = [o["@type"] for o in page["structured_data"]]
    assert types == ["Physiotherapy"]  # the clinic's practice; no FAQPage, no Person


def test_faq_page_lists_the_shown_questions(site_dir: Path, make_client: ClientFactory) -> None:
    _with_items(site_dir)
    page = _page(make_client())
    [faq] = _of_type(page, "FAQPage")
    assert faq["@context"] == "https://schema.org"
    assert faq["url"] == f"http://127.0.0.1:8000/{SLUG}"
    # Sorted as the collection is (by question); the draft is not on the page, so not in it.
    assert faq["mainEntity"] == [
        {
            "@type": "Question",
            "name": "Does dry needling hurt?",
            "acceptedAnswer": {
                "@type": "Answer",
                "text": "<p>Most people feel a brief <em>twitch</em>, then relief.</p>",
            },
        },
        {
            "@type": "Question",
            "name": "How many sessions will I need?",
            "acceptedAnswer": {
                "@type": "Answer",
                "text": '<p>Usually three to six. See <a href="https://clinic.example/prices">'
                "our prices</a>.</p>",
            },
        },
    ]


def test_practice_is_a_medical_business_with_address_phone_hours(
    make_client: ClientFactory,
) -> None:
    [business] = _of_type(_page(make_client()), "Physiotherapy")
    assert business == {
        "@context": "https://schema.org",
        "@type": "Physiotherapy",
        "@id": "http://127.0.0.1:8000/#practice",
        "name": "Clinic",  # the site's name: the practice sets none
        "url": "http://127.0.0.1:8000",
        "address": {
            "@type": "PostalAddress",
            "streetAddress": "100 Example Avenue, Suite 2",
            "addressLocality": "New York",
            "addressRegion": "NY",
            "postalCode": "10001",
            "addressCountry": "US",
        },
        "telephone": "+1 212 555 0100",
        "openingHoursSpecification": [
            {
                "@type": "OpeningHoursSpecification",
                "dayOfWeek": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
                "opens": "08:00",
                "closes": "18:00",
            },
            {
                "@type": "OpeningHoursSpecification",
                "dayOfWeek": ["Saturday"],
                "opens": "09:00",
                "closes": "13:00",
            },
        ],
    }


def test_practice_type_defaults_to_medical_business_with_every_field(
    site_dir: Path, make_client: ClientFactory
) -> None:
    site = (site_dir / "site.yaml").read_text()
    site = site[: site.index("practice:")] + textwrap.dedent(
        """
        practice:
          name: Example Physio & Rehab
          description: Physiotherapy in Midtown.
          url: https://clinic.example
          phone: "+1 212 555 0100"
          email: desk@clinic.example
          address: {street: 1 Main St, locality: Springfield, country: US}
          geo: {latitude: 40.75, longitude: -73.99}
          price_range: $$
          image: https://clinic.example/front.jpg
          opening_hours:
            - days: [Sunday]
              opens: "00:00"
              closes: "00:00"
              valid_from: 2026-12-24
              valid_through: 2026-12-26
          same_as:
            - https://maps.example/clinic
            - https://www.facebook.com/clinic.example
        """
    )
    (site_dir / "site.yaml").write_text(site)
    [business] = _of_type(_page(make_client()), "MedicalBusiness")
    assert business["name"] == "Example Physio & Rehab"
    assert business["url"] == "https://clinic.example"
    assert business["@id"] == "http://127.0.0.1:8000/#practice"
    assert business["address"] == {
        "@type": "PostalAddress",
        "streetAddress": "1 Main St",
        "addressLocality": "Springfield",
        "addressCountry": "US",
    }
    assert business["geo"] == {"@type": "GeoCoordinates", "latitude": 40.75, "longitude": -73.99}
    assert business["priceRange"] == "$$"
    assert business["image"] == "https://clinic.example/front.jpg"
    assert business["email"] == "desk@clinic.example"
    assert business["description"] == "Physiotherapy in Midtown."
    assert business["sameAs"] == [
        "https://maps.example/clinic",
        "https://www.facebook.com/clinic.example",
    ]
    assert business["openingHoursSpecification"] == [
        {
            "@type": "OpeningHoursSpecification",
            "dayOfWeek": ["Sunday"],
            "opens": "00:00",
            "closes": "00:00",
            "validFrom": "2026-12-24",
            "validThrough": "2026-12-26",
        }
    ]


def test_no_practice_no_business_object(site_dir: Path, make_client: ClientFactory) -> None:
    site = (site_dir / "site.yaml").read_text()
    (site_dir / "site.yaml").write_text(site[: site.index("# The practice")])
    _with_items(site_dir)
    page = _page(make_client())
    assert [o["@type"] for o in page["structured_data"]] == ["FAQPage", "Person", "Person"]
    assert all("worksFor" not in p for p in _of_type(page, "Person"))


def test_one_person_per_professional(site_dir: Path, make_client: ClientFactory) -> None:
    _with_items(site_dir)
    people = _of_type(_page(make_client()), "Person")
    assert people == [
        {
            "@context": "https://schema.org",
            "@type": "Person",
            "@id": "http://127.0.0.1:8000/#professionals/ana",
            "name": "Ana Lima",
            "jobTitle": "Physical Therapist",
            "honorificSuffix": "PT, DPT",
            "description": "Ana has treated joint pain for ten years.",
            "image": "https://cdn.clinic.example/ana.jpg",
            "sameAs": ["https://www.linkedin.com/in/ana-lima-example"],
            "worksFor": {"@id": "http://127.0.0.1:8000/#practice"},
        },
        {
            "@context": "https://schema.org",
            "@type": "Person",
            "@id": "http://127.0.0.1:8000/#professionals/ben",
            "name": "Ben Okafor",
            "worksFor": {"@id": "http://127.0.0.1:8000/#practice"},
        },
    ]


def test_required_properties_present(site_dir: Path, make_client: ClientFactory) -> None:
    """What Google's structured-data documentation requires of each type."""
    _with_items(site_dir)
    page = _page(make_client())
    for entry in page["structured_data"]:
        assert entry["@context"] == "https://schema.org"
        if entry["@type"] == "FAQPage":
            assert entry["mainEntity"]
            for question in entry["mainEntity"]:
                assert question["@type"] == "Question"
                assert question["name"]
                assert question["acceptedAnswer"]["@type"] == "Answer"
                assert question["acceptedAnswer"]["text"]
        elif entry["@type"] == "Person":
            assert entry["name"]
        else:
            assert entry["name"]
            address = entry["address"]
            assert address["@type"] == "PostalAddress"
            for key in ("streetAddress", "addressLocality", "addressCountry"):
                assert address[key]


def test_script_breaking_text_is_escaped_and_round_trips(
    site_dir: Path, make_client: ClientFactory
) -> None:
    _write(
        site_dir,
        {
            "collections/faqs/attack.yaml": f"""
                question: "{ATTACK} & <!-- more"
                answer: "Answer {ATTACK} & done"
            """,
            "collections/professionals/eve.yaml": f"""
                name: "Eve {ATTACK} & Co"
                role: "<b>Boss</b>"
                bio: "Raw <i>HTML</i> stays text & so does {ATTACK}"
            """,
        },
    )
    page = _page(make_client())
    text = page["structured_data_json"]
    for character in "<>&":
        assert character not in text
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in text
    assert "\\u0026" in text
    decoded = json.loads(text)
    assert decoded == page["structured_data"]
    [faq] = _of_type(page, "FAQPage")
    assert faq["mainEntity"][0]["name"] == f"{ATTACK} & <!-- more"
    # The answer is Markdown: its raw HTML comes out escaped as text, never as markup.
    assert "<script>" not in faq["mainEntity"][0]["acceptedAnswer"]["text"]
    [eve] = _of_type(page, "Person")
    assert eve["name"] == f"Eve {ATTACK} & Co"
    assert eve["jobTitle"] == "<b>Boss</b>"
    assert eve["description"] == f"Raw <i>HTML</i> stays text & so does {ATTACK}"


def test_structured_data_is_part_of_the_etag(site_dir: Path, make_client: ClientFactory) -> None:
    """Built with the page: the same build answers 304, a changed practice a new ETag."""
    client = make_client()
    first = client.get(f"/v1/pages/{SLUG}")
    etag = first.headers["etag"]
    again = client.get(f"/v1/pages/{SLUG}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    site = site_dir / "site.yaml"
    site.write_text(site.read_text().replace("type: Physiotherapy", "type: MedicalClinic"))
    changed = make_client().get(f"/v1/pages/{SLUG}")
    assert changed.headers["etag"] != etag
    assert [o["@type"] for o in changed.json()["structured_data"]] == ["MedicalClinic"]


@pytest.mark.parametrize(
    ("practice", "path", "message"),
    [
        (
            "{type: Bakery, address: {street: a, locality: b, country: US}}",
            "$.practice.type",
            "Invalid enum value 'Bakery'",
        ),
        ("{name: X}", "$.practice", "Object missing required field `address`"),
        (
            "{phone: '555 0100', address: {street: a, locality: b, country: US}}",
            "$.practice.phone",
            "Expected `str` matching regex",
        ),
        (
            "{address: {street: a, locality: b, country: US},"
            " opening_hours: [{days: [Funday], opens: '09:00', closes: '17:00'}]}",
            "$.practice.opening_hours[0].days[0]",
            "Invalid enum value 'Funday'",
        ),
        (
            "{address: {street: a, locality: b, country: US},"
            " opening_hours: [{days: [Monday], opens: '9am', closes: '17:00'}]}",
            "$.practice.opening_hours[0].opens",
            "Expected `str` matching regex",
        ),
        (
            "{address: {street: a, locality: b, country: US}, same_as: ['javascript:alert(1)']}",
            "$.practice.same_as[0]",
            "Expected `str` matching regex",
        ),
    ],
)
def test_bad_practice_data_is_a_load_problem(
    site_dir: Path, practice: str, path: str, message: str
) -> None:
    site = (site_dir / "site.yaml").read_text()
    (site_dir / "site.yaml").write_text(site[: site.index("practice:")] + f"practice: {practice}\n")
    with pytest.raises(SiteError) as raised:
        load_site(site_dir)
    [problem] = raised.value.problems
    assert (problem.file, problem.path) == ("site.yaml", path)
    assert problem.message.startswith(message), problem.message


def test_the_site_schema_describes_the_practice() -> None:
    """``frontdesk content schema`` is generated from the types: the practice block is in it."""
    from services.content.schemas import site_schemas

    schemas = site_schemas()
    definitions = schemas["site.schema.json"]["$defs"]
    assert "practice" in definitions["SiteConfig"]["properties"]
    practice = definitions["Practice"]
    assert practice["additionalProperties"] is False
    assert "address" in practice["required"]
    assert "Physiotherapy" in practice["properties"]["type"]["enum"]
    person = schemas["item-person.schema.json"]["$defs"]["PersonItem"]
    assert "same_as" in person["properties"]
