"""Phone rules (the cases docs/forms.md names): characters first, then libphonenumber."""

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.forms.phone import _region_and_type, check_phone, normalise_region

# libphonenumber's number types by value, as check_phone names them (lower case).
_TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(phonenumbers.PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}


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
    assert verdict.type == _TYPE_NAMES[phonenumbers.number_type(number)]


def _example_numbers() -> list[phonenumbers.PhoneNumber]:
    """libphonenumber's example number of every region and type (valid ones), its invalid example
    of every region and the example of every non-geographic calling code."""
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in _TYPE_NAMES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(example)
        invalid = phonenumbers.invalid_example_number(region)
        if invalid is not None:
            numbers.append(invalid)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            numbers.append(example)
    return numbers


# Calling codes shared by several regions (NANP's +1 for US, CA, JM by its leading digits 876,
# AI…; +44 with IM and JE; +7; +47; +61; +262; +590; +599), Italy's leading zero, Argentine and
# Mexican mobiles, non-geographic +800, and invalid ones.
_CASES = [
    ("+1 415 555 2671", "US"),
    ("+1 613 555 0123", "CA"),
    ("+1 876 927 1234", None),
    ("+1 264 235 1234", None),
    ("+1 800 555 0199", None),
    ("+1 200 555 0100", None),
    ("+1 999 555 0100", None),
    ("+44 7400 123456", None),
    ("+44 1624 756789", None),
    ("+44 1534 456789", None),
    ("+44 1 234", None),
    ("+7 912 345 6789", None),
    ("+7 701 234 5678", None),
    ("+47 79 12 34 56", None),
    ("+61 8 9162 1234", None),
    ("+262 269 61 23 45", None),
    ("+590 590 27 12 34", None),
    ("+599 9 518 1234", None),
    ("+39 06 1234 5678", None),
    ("+39 6 1234 5678", None),
    ("+54 9 11 2345 6789", None),
    ("+54 11 2345 6789", None),
    ("+52 1 55 1234 5678", None),
    ("+52 55 1234 5678", None),
    ("+800 1234 5678", None),
    ("+506 0000 0000", None),
    ("+31 6 1234 5678", None),
]


@pytest.mark.parametrize(
    "number",
    [phonenumbers.parse(raw, region) for raw, region in _CASES] + _example_numbers(),
    ids=lambda number: phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
)
def test_region_and_type_is_the_public_api(number: phonenumbers.PhoneNumber) -> None:
    """_region_and_type (phonenumbers' private _number_type_helper, once) equals
    region_code_for_number and number_type, and check_phone's verdict follows them."""
    region = phonenumbers.region_code_for_number(number)
    kind = phonenumbers.number_type(number)
    assert _region_and_type(number) == (region, kind)
    verdict = check_phone(
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None
    )
    if verdict.possible:
        assert verdict.valid == phonenumbers.is_valid_number(number)
        assert verdict.region == region
        assert verdict.type == _TYPE_NAMES[kind]
