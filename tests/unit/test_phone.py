"""Phone rules (issue 4's exact cases): characters first, then libphonenumber."""

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.forms.phone import check_phone, normalise_region


@pytest.mark.parametrize(
    ("raw", "region", "e164", "extension"),
    [
        ("+1 415 555 2671 x12", "US", "+14155552671", "12"),
        ("tel:+1-415-555-2671;ext=12", "US", "+14155552671", "12"),
        ("(415) 555-2671 ext. 12", "US", "+14155552671", "12"),
        ("٠٦١٢٣٤٥٦٧٨", "NL", "+31612345678", None),
        ("０６１２３４５６７８", "NL", "+31612345678", None),
        ("۰۹۱۲۳۴۵۶۷۸۹", "IR", "+989123456789", None),
        ("+33 0 6 12 34 56 78", None, "+33612345678", None),
        ("+39 06 1234 5678", None, "+390612345678", None),
        ("0031612345678", "NL", "+31612345678", None),
        ("011 31 6 12345678", "US", "+31612345678", None),
        ("+506 8312 3456", None, "+50683123456", None),
        # Plus and dash variants libphonenumber reads as "+" and "-" (_PLUS_CHARS,
        # _VALID_PUNCTUATION): full-width plus, en dash, non-breaking hyphen, minus sign…
        ("\uff0b1 415 555 2671", "US", "+14155552671", None),
        ("+1 415\u2013555\u20132671", "US", "+14155552671", None),
        ("+1 415\u2011555\u20112671", "US", "+14155552671", None),
        ("+1 415\u2014555\u22122671", "US", "+14155552671", None),
        (
            "\uff0b\uff13\uff11\u30fc\uff16\uff0d\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
            None,
            "+31612345678",
            None,
        ),
        ("\uff08415\uff09 555\uff0e2671", "US", "+14155552671", None),
        ("+31\u00a06\u300012345678", None, "+31612345678", None),
    ],
)
def test_valid_numbers_normalise_to_e164(
    raw: str, region: str | None, e164: str, extension: str | None
) -> None:
    verdict = check_phone(raw, region, "valid")
    assert verdict.accepted
    assert verdict.valid
    assert verdict.e164 == e164
    assert verdict.extension == extension


@pytest.mark.parametrize(
    "raw",
    [
        "xy0612345678",
        "+31 6 12 34 abc 5",
        "1-800-FLOWERS",
        "+31 6 1234\u00ad5678",  # soft hyphen: invisible, not one of the accepted dashes
        "+31 6 1234~5678",
        "\uff0b31 6 12 34 \uff41\uff42\uff43 5",  # full-width letters stay letters
    ],
)
def test_letters_are_not_a_number(raw: str) -> None:
    verdict = check_phone(raw, "NL", "possible")
    assert not verdict.accepted
    assert verdict.reason == "not_a_number"
    assert verdict.e164 is None


def test_region_decides_idd_prefix() -> None:
    assert check_phone("0031612345678", "US", "possible").accepted is False


def test_possible_but_invalid_is_accepted_only_under_possible() -> None:
    possible = check_phone("+506 0000 0000", None, "possible")
    assert (possible.accepted, possible.valid, possible.reason) == (True, False, "invalid_number")
    strict = check_phone("+506 0000 0000", None, "valid")
    assert (strict.accepted, strict.reason) == (False, "invalid_number")
    assert check_phone("+39 6 1234 5678", None, "valid").accepted is False


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("12", "too_short"), ("+0412345678", "invalid_country_code"), ("9" * 300, "too_long")],
)
def test_reasons(raw: str, reason: str) -> None:
    verdict = check_phone(raw, "AU", "possible")
    assert not verdict.accepted
    assert verdict.reason == reason


def test_nanp_numbers_are_fixed_line_or_mobile() -> None:
    assert check_phone("+1 415 555 2671", "US").type == "fixed_line_or_mobile"


@pytest.mark.parametrize(
    ("given", "known"), [("us", "US"), ("ac", "AC"), ("TA", "TA"), ("xk", "XK")]
)
def test_regions_are_case_insensitive(given: str, known: str) -> None:
    assert normalise_region(given) == known


def test_unknown_region_counts_as_none() -> None:
    assert normalise_region("ZZ") is None
    assert normalise_region("") is None


@given(
    region=st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)),
    digits=st.text(alphabet="0123456789", min_size=4, max_size=14),
    international=st.booleans(),
)
@settings(max_examples=2000, deadline=None)
def test_validity_is_libphonenumbers(region: str, digits: str, international: bool) -> None:
    """check_phone reads validity from the number's type (one pass over the patterns): it must
    agree with is_valid_number for every number, and with number_type and the region."""
    code = phonenumbers.country_code_for_region(region)
    raw = f"+{code} {digits}" if international else digits
    verdict = check_phone(raw, region, "possible")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        assert not verdict.possible
        return
    if not verdict.possible:
        return
    assert verdict.valid == phonenumbers.is_valid_number(number)
    assert verdict.region == phonenumbers.region_code_for_number(number)
