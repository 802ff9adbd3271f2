"""The list's matching (frontdesk/submissions/staff/search.py) and the codes in words
(frontdesk/submissions/explain.py): pure functions, properties with Hypothesis.
"""

from __future__ import annotations

import datetime as dt

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.submissions import explain
from frontdesk.submissions.record import MessageState, PhoneInfo, SmtpError, Submission
from frontdesk.submissions.staff.search import (
    UNASSIGNED,
    Criteria,
    day_range,
    delivery_state,
    digits,
    phone_query,
    search_matches,
)


def record(phone: str | None = None, region: str = "DE", **fields: str) -> Submission:
    info = None
    if phone is not None:
        parsed = phonenumbers.parse(phone, region)
        info = PhoneInfo(
            raw=phone,
            e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
            international=None,
            extension=None,
            region=region,
            type=None,
            valid=True,
        )
    return Submission(
        id="0" * 28,
        form="contact",
        status="notified",
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        fields={"name": "Ann", **fields, **({"phone": phone} if phone else {})},
        phone=info,
        messages=[MessageState(kind="staff", status="sent")],
    )


# German mobile numbers: 015x/016x/017x and 7 or 8 more digits.
german_mobile = st.builds(
    lambda prefix, rest: f"0{prefix}{rest}",
    st.sampled_from(["151", "152", "160", "170", "171", "176"]),
    st.text("0123456789", min_size=8, max_size=8),
)
separators = st.sampled_from(["", " ", "-", ".", "/", " - "])


def spaced(number: str, cuts: list[int], separator: str) -> str:
    """``number`` with ``separator`` at the positions ``cuts``."""
    out, last = [], 0
    for cut in sorted({c for c in cuts if 0 < c < len(number)}):
        out.append(number[last:cut])
        last = cut
    out.append(number[last:])
    return separator.join(out)


@settings(max_examples=200)
@given(
    german_mobile,
    st.lists(st.integers(1, 12), max_size=4),
    separators,
    st.integers(3, 11),
    st.sampled_from(["national", "international", "e164", "double_zero"]),
)
def test_a_number_is_found_by_any_part_typed_in_any_format(
    number: str, cuts: list[int], separator: str, length: int, style: str
) -> None:
    stored = record(number)
    national = number[: max(length, 4)]  # "0151…": the trunk 0 and at least 3 digits
    typed = {
        "national": national,
        "international": "+49 " + national[1:],
        "e164": "+49" + national[1:],
        "double_zero": "0049" + national[1:],
    }[style]
    query = spaced(typed, cuts, separator)
    assert search_matches(stored, query, {"name"}), (number, query)


@given(german_mobile, german_mobile)
def test_a_whole_other_number_is_not_found(number: str, other: str) -> None:
    if digits(other)[1:] in digits(number):
        return
    assert not search_matches(record(number), other, {"name"})


def test_phone_queries() -> None:
    assert phone_query("0151 234") == "151234"
    assert phone_query("+49 151-234") == "49151234"
    assert phone_query("(415) 555-0132") == "4155550132"
    assert phone_query("０１５１ ２３４") == "151234"  # full-width digits
    assert phone_query("12") is None  # too few digits
    assert phone_query("Room 151") is None  # not a number: text search only
    assert phone_query("") is None


@given(
    st.text(
        st.characters(codec="latin-1", categories=("L", "N", "Zs")), min_size=1, max_size=30
    ).filter(lambda t: t.strip())
)
def test_text_is_found_in_any_case(text: str) -> None:
    stored = record(message=f"before {text} after")
    assert search_matches(stored, text.upper(), None) or not text.upper().strip()
    assert search_matches(stored, text.lower(), None) or not text.lower().strip()


def test_search_reads_only_the_searched_fields() -> None:
    stored = record(message="knee", topic="Billing")
    assert search_matches(stored, "billing", None)
    assert not search_matches(stored, "billing", {"name", "message"})
    assert search_matches(stored, "KNEE", {"message"})


def test_criteria() -> None:
    stored = record()
    assert Criteria().is_open
    assert Criteria().matches(stored)
    assert Criteria(assignee=UNASSIGNED).matches(stored)
    assert not Criteria(assignee="desk@clinic.example").matches(stored)
    stored.assignee = "Desk@Clinic.example"
    assert Criteria(assignee="desk@clinic.example").matches(stored)
    assert not Criteria(assignee=UNASSIGNED).matches(stored)
    assert Criteria(inquiry_status="new").matches(stored)
    assert not Criteria(inquiry_status="closed").matches(stored)
    assert Criteria(delivery="notified").matches(stored)


def test_delivery_states() -> None:
    stored = record()
    assert delivery_state(stored) == "notified"
    stored.messages.append(MessageState(kind="auto_reply"))
    assert delivery_state(stored) == "queued"
    stored.messages[1].status = "failed"
    assert delivery_state(stored) == "failed"
    stored.status = "quarantined"
    assert delivery_state(stored) == "quarantined"


def test_day_range_follows_the_zone_over_a_clock_change() -> None:
    # 29 March 2026: Europe/Berlin moves from +01:00 to +02:00; the day has 23 hours.
    since, until = day_range(dt.date(2026, 3, 29), dt.date(2026, 3, 29), "Europe/Berlin")
    assert since is not None
    assert until is not None
    assert since.astimezone(dt.UTC) == dt.datetime(2026, 3, 28, 23, 0, tzinfo=dt.UTC)
    assert until.astimezone(dt.UTC) == dt.datetime(2026, 3, 29, 22, 0, tzinfo=dt.UTC)
    assert day_range(None, None, "UTC") == (None, None)


def test_flags_and_errors_in_words() -> None:
    assert explain.flag("phone_unverified") == (
        "The phone number could not be verified as a real number."
    )
    assert explain.flag("something_new") == "Flagged something_new."
    assert explain.error(None) == ""
    assert explain.error(SmtpError(code=None, text="timed out")).startswith(
        "The mail server could not be reached"
    )
    assert "retried" in explain.error(SmtpError(code=451, text="try later"))
    assert explain.error(SmtpError(code=550, text="no")) == "The mail server refused it (550): no"
    assert explain.skip_reason("address_limit").startswith("not sent")


def test_has_read_is_not_fooled_by_visitor_text() -> None:
    from frontdesk.submissions.record import encoder
    from frontdesk.submissions.staff.queries import has_read

    desk = "desk@clinic.example"
    # A visitor types what a read_by list looks like into every field they have.
    forged = '","read_by":["desk@clinic.example"],"x":"'
    stored = record(message=forged, name=f'"read_by":["{desk}"]')
    stored.read_by = ["nurse@clinic.example"]
    raw = encoder.encode(stored)
    assert not has_read(raw, desk)
    assert has_read(raw, "nurse@clinic.example")
    stored.read_by = [desk]
    assert has_read(encoder.encode(stored), desk)
    # Addresses that could end the list early are looked up by decoding.
    stored.read_by = ['odd]"x@clinic.example']
    assert has_read(encoder.encode(stored), 'odd]"x@clinic.example')


@settings(max_examples=200)
@given(
    german_mobile,
    st.text(st.characters(codec="latin-1", categories=("L", "N", "P", "Zs")), max_size=20),
    st.text(st.characters(categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=12),
)
def test_the_prefilter_never_drops_a_match(number: str, words: str, typed: str) -> None:
    from frontdesk.submissions.record import encoder
    from frontdesk.submissions.staff.search import Search

    stored = record(number, message=f"{words} {typed.upper()} end")
    search = Search.of(typed)
    if search.matches(stored, None):
        assert search.may_match(encoder.encode(stored))
    phone = Search.of(number[: len(number) // 2 + 2])
    assert phone.matches(stored, None)
    assert phone.may_match(encoder.encode(stored))


def test_the_prefilter_skips_what_cannot_match() -> None:
    from frontdesk.submissions.record import encoder
    from frontdesk.submissions.staff.search import Search

    raw = encoder.encode(record("0151 23456789", message="knee"))
    assert not Search.of("shoulder").may_match(raw)
    assert not Search.of("0171 555").may_match(raw)
    assert Search.of("KNEE").may_match(raw)
    assert Search.of("0151 234").may_match(raw)
