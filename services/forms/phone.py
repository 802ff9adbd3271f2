"""Phone numbers through libphonenumber (the ``phonenumbers`` port).

One function, :func:`check_phone`, serves both a submission and ``GET /v1/phone/check``, so the
page's "Valid number" and the server's verdict can never disagree.

Characters are checked before libphonenumber sees the text: it reads three or more letters as vanity
digits and silently drops fewer, so ``+31 6 12 34 abc 5`` would become a different, "valid" number.
Only Unicode decimal digits, spaces, ``+ ( ) - . /`` (and the variants of these that libphonenumber
reads the same: full-width plus, Unicode dashes, full-width brackets…), a ``tel:`` prefix (RFC 3966)
and an extension suffix (``x``, ``ext``, ``ext.``, ``extension``, ``#``, ``;ext=``) are accepted.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

import msgspec
import phonenumbers
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    NumberParseException,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberFormat,
    PhoneNumberType,
    ValidationResult,
)

# Private to phonenumbers (typed in its stubs), used by _region_and_type: the one pass over a
# region's patterns behind number_type, is_valid_number and region_code_for_number.
# tests/unit/test_phone.py pins that _region_and_type equals the public functions.
from phonenumbers.phonenumberutil import _number_type_helper
from phonenumbers.re_util import re_compile

PhoneReason = Literal[
    "invalid_country_code",
    "too_short",
    "too_long",
    "invalid_length",
    "not_a_number",
    "invalid_number",
]
PhonePolicyName = Literal["possible", "valid"]

METADATA_VERSION: str = phonenumbers.__version__
# Keep libphonenumber's compiled metadata patterns (its public switch, process-wide; a bounded set,
# since they come from its fixed metadata, never from input) instead of asking re.compile's cache
# for each of the ~20 patterns one number meets: about 4 µs of check_phone's 50.
phonenumbers.enable_pattern_cache()
MAX_INPUT = 250  # libphonenumber's _MAX_INPUT_STRING_LENGTH

# The plus and punctuation variants libphonenumber itself reads as "+" and as our ASCII
# separators (phonenumberutil._PLUS_CHARS and _VALID_PUNCTUATION): full-width plus; the dashes
# U+2010-2015 (hyphen, non-breaking hyphen, figure dash, en and em dash, horizontal bar), minus
# sign, katakana prolonged sound mark and full-width hyphen-minus; full-width ( ) . /. Mapped to
# ASCII before the character check, so "＋1 415–555–2671" is read as typed. Not mapped, so still
# refused: its invisible ones (soft hyphen, zero-width space, word joiner), tildes and brackets,
# which nobody types between digits. Unicode spaces (no-break, ideographic) are already "\s".
_LOOKALIKES = str.maketrans(
    {
        "\uff0b": "+",
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d", "-"),
        "\uff08": "(",
        "\uff09": ")",
        "\uff0e": ".",
        "\uff0f": "/",
    }
)
_EXTENSION = re.compile(r"(?:;ext=|\s*(?:extension|ext\.?|x|#)\s*)(\d{1,10})$", re.IGNORECASE)
_BODY = re.compile(r"^[\d\s+().\-/]+$")
_DIGIT = re.compile(r"\d")

_PARSE_REASONS: dict[int, PhoneReason] = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.NOT_A_NUMBER: "not_a_number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}
_POSSIBLE_REASONS: dict[int, PhoneReason] = {
    ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
    ValidationResult.TOO_SHORT: "too_short",
    ValidationResult.TOO_LONG: "too_long",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "too_short",
    ValidationResult.INVALID_LENGTH: "invalid_length",
}
_TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}


class PhoneVerdict(msgspec.Struct, kw_only=True):
    """What libphonenumber says of one input.

    ``possible``: IS_POSSIBLE (length and country code fit); ``valid``: full metadata rules;
    ``reason``: ``None`` or a field code; ``accepted``: whether a submission takes it under the
    policy; ``e164`` drops the extension, kept in ``extension``; ``type`` is libphonenumber's number
    type in lower case (NANP numbers are ``fixed_line_or_mobile``); ``region`` ISO 3166-1 alpha-2.
    """

    raw: str
    possible: bool = False
    valid: bool = False
    accepted: bool = False
    reason: PhoneReason | None = None
    e164: str | None = None
    national: str | None = None
    international: str | None = None
    extension: str | None = None
    type: str | None = None
    region: str | None = None


def normalise_region(region: str | None) -> str | None:
    """``region`` upper-cased when libphonenumber knows it (AC, TA and XK included), else ``None``."""
    if not region:
        return None
    code = region.strip().upper()
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)


def _split(raw: str) -> tuple[str, str | None] | None:
    """``(number, extension)`` in ASCII digits, or ``None`` when a character is not allowed."""
    text = unicodedata.normalize("NFC", raw).strip()
    if text[:4].lower() == "tel:":
        text = text[4:]
    if not text.isascii():  # only non-ASCII text can hold other scripts' digits or dashes
        text = _ascii_digits(text.translate(_LOOKALIKES))
    extension = None
    match = _EXTENSION.search(text)
    if match:
        extension = match.group(1)
        text = text[: match.start()]
    if not text or not _BODY.match(text) or not _DIGIT.search(text):
        return None
    return text, extension


def _region_and_type(number: PhoneNumber) -> tuple[str | None, int]:
    """``(region_code_for_number(number), number_type(number))`` with one type lookup instead of
    up to three.

    Both public functions walk the same patterns: number_type first finds the region (for a calling
    code shared by several regions, such as NANP's +1, by trying each region's patterns until one
    gives a type), then types the number against that region's metadata, which is the pass that
    found it. The walk below is phonenumbers' ``_region_code_for_number_from_list`` keeping that
    type; a region found by its leading digits (+1 876: JM) or alone on its code is typed once.
    """
    code = number.country_code
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code) if code is not None else None
    if code is None or not regions:
        return None, PhoneNumberType.UNKNOWN
    nsn = phonenumbers.national_significant_number(number)
    region = regions[0]
    if len(regions) > 1:
        for candidate in regions:
            metadata = PhoneMetadata.metadata_for_region(candidate.upper(), None)
            if metadata is None:
                continue
            if metadata.leading_digits is not None:
                if re_compile(metadata.leading_digits).match(nsn):
                    region = candidate
                    break
            else:
                kind: int = _number_type_helper(nsn, metadata)
                if kind != PhoneNumberType.UNKNOWN:
                    return candidate, kind
        else:  # no region of the calling code claims the number
            return None, PhoneNumberType.UNKNOWN
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    if metadata is None:
        return region, PhoneNumberType.UNKNOWN
    return region, _number_type_helper(nsn, metadata)


def check_phone(
    raw: str, region: str | None, policy: PhonePolicyName = "possible", *, national: bool = False
) -> PhoneVerdict:
    """Judge ``raw`` with default ``region`` under ``policy``; never raises for any input.

    ``possible``: accept IS_POSSIBLE numbers (the caller flags ``phone_unverified`` when not valid);
    ``valid``: accept only numbers valid by libphonenumber's metadata. ``national`` also fills
    :attr:`PhoneVerdict.national` (for ``GET /v1/phone/check``; a submission does not store it).
    """
    verdict = PhoneVerdict(raw=raw)
    if len(raw) > MAX_INPUT:
        verdict.reason = "too_long"
        return verdict
    parts = _split(raw)
    if parts is None:
        verdict.reason = "not_a_number"
        return verdict
    text, extension = parts
    try:
        number = phonenumbers.parse(text, normalise_region(region))
    except NumberParseException as exc:
        verdict.reason = _PARSE_REASONS.get(exc.error_type, "not_a_number")
        return verdict
    if extension:
        number.extension = extension
    possibility = phonenumbers.is_possible_number_with_reason(number)
    verdict.possible = possibility == ValidationResult.IS_POSSIBLE
    if not verdict.possible:
        verdict.reason = _POSSIBLE_REASONS.get(possibility, "invalid_number")
        return verdict
    # libphonenumber's definition of valid (isValidNumberForRegion) is "its type is not UNKNOWN"
    # for the number's region, which is what number_type looks up: one pass over the patterns
    # instead of up to three (number_type's region_code_for_number, its own pass, then
    # region_code_for_number again for the stored region).
    region, number_kind = _region_and_type(number)
    verdict.valid = number_kind != PhoneNumberType.UNKNOWN
    if not verdict.valid:
        verdict.reason = "invalid_number"
    verdict.accepted = verdict.valid or policy == "possible"
    verdict.e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if national:
        verdict.national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    verdict.international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    verdict.extension = number.extension or None
    verdict.type = _TYPE_NAMES.get(number_kind, "unknown")
    verdict.region = region
    return verdict
