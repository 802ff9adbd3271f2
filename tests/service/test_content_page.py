"""The clinic page through the content app (ASGI test client, no Redis needed)."""

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from frontdesk.settings import Settings
from services.content.app import create_app

SLUG = "dry-needling-therapy-for-joint-pain"
HEADINGS = [
    ("rich_text", "What is Dry Needling?"),
    ("list", "How Does Dry Needling Specifically Help Joint Pain?"),
    ("comparison", "The Critical Difference: Dry Needling vs. Acupuncture for Joint Pain"),
    ("list", "Which Types of Joint Pain Respond Best to Dry Needling?"),
    ("steps", "The Dry Needling Process: What to Expect During Your Session"),
    ("list", "Is Dry Needling Safe? Potential Side Effects"),
    ("collection", "Frequently Asked Questions"),
    ("collection", "Related Therapies"),
    ("collection", "Related Symptoms"),
    ("collection", "Related Conditions"),
    ("collection", "Related Treatments"),
    ("collection", "Our Professionals"),
    ("collection", "Related Blogs"),
    ("form", "Get In Touch"),
]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def page(client: TestClient) -> dict:  # type: ignore[type-arg]
    response = client.get(f"/v1/pages/{SLUG}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


def test_fourteen_sections_in_seed_order(page: dict) -> None:
    assert page["slug"] == SLUG
    assert page["title"] == "Dry Needling Therapy for Joint Pain"
    assert [(s["type"], s["heading"]) for s in page["sections"]] == HEADINGS
    assert all(s["id"] for s in page["sections"])


def test_list_and_steps_keep_titles_intros_and_outros(page: dict) -> None:
    help_list, types_list, safe_list = (page["sections"][i] for i in (1, 3, 5))
    assert help_list["intro"]["markdown"].endswith("Dry needling helps joint pain by:")
    assert help_list["items"][0]["title"] == "Releasing Muscular Trigger Points"
    assert [i["title"] for i in types_list["items"]] == [
        "Knee Pain",
        "Shoulder Pain",
        "Hip Pain",
        "Jaw Pain (TMJ)",
        "Elbow & Wrist Pain",
    ]
    assert len(safe_list["items"]) == 3
    assert safe_list["outro"]["markdown"].startswith("These side effects are generally mild")
    steps = page["sections"][4]
    assert [s["title"] for s in steps["steps"]] == [
        "Initial Assessment",
        "The Procedure",
        "Post-Treatment",
    ]
    assert "<p>" in steps["steps"][0]["body"]["html"]


def test_comparison_rows_match_columns(page: dict) -> None:
    comparison = page["sections"][2]
    assert comparison["columns"] == ["Dry Needling", "Acupuncture"]
    assert [r["label"] for r in comparison["rows"]] == [
        "Underlying Philosophy",
        "Practitioner",
        "Technique",
        "Goal",
        "Application for Joint Pain",
    ]
    assert all(len(r["values"]) == 2 for r in comparison["rows"])
    assert comparison["outro"]["markdown"].startswith("Understanding these differences")


def test_empty_collections_are_data_with_seed_messages(page: dict) -> None:
    collections = {s["collection"]: s for s in page["sections"] if s["type"] == "collection"}
    for name in ("faqs", "symptoms", "conditions", "treatments", "professionals"):
        section = collections[name]
        assert section["state"] == "empty"
        assert section["items"] == []
        assert section["total"] == 0
        assert section["empty_state"] == {"message": "No items found."}
    blog = collections["posts"]
    # The posts collection holds a draft: drafts never count.
    assert (blog["state"], blog["items"], blog["total"]) == ("empty", [], 0)
    assert blog["empty_state"]["message"] == "No posts published yet."
    therapies = collections["therapies"]
    assert therapies["state"] == "items"
    assert therapies["total"] == len(therapies["items"]) >= 2


def test_form_section_points_at_forms_service(page: dict) -> None:
    form = page["sections"][-1]
    assert form["form"] == "contact"
    assert form["action"] == "http://127.0.0.1:8002/v1/forms/contact/submissions"
    assert form["definition"] == "http://127.0.0.1:8002/v1/forms/contact"


def test_etag_answers_304(client: TestClient) -> None:
    first = client.get(f"/v1/pages/{SLUG}", headers={"accept-encoding": "identity"})
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert first.headers["vary"] == "Accept-Encoding"
    again = client.get(
        f"/v1/pages/{SLUG}", headers={"if-none-match": etag, "accept-encoding": "identity"}
    )
    assert again.status_code == 304
    assert again.content == b""
    gzipped = client.get(f"/v1/pages/{SLUG}", headers={"accept-encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzipped.headers["etag"] != etag
    assert gzipped.json() == first.json()


def test_unknown_page_is_problem_json(client: TestClient) -> None:
    response = client.get("/v1/pages/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["code"] == "page_not_found"
