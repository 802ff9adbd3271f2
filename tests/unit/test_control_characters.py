"""The control-character rule of services/forms/validate.py, checked over every code point against
its definition in Unicode categories (the regex must neither miss nor add a character)."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from services.forms.validate import _has_control

BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _refused_by_definition(char: str, multiline: bool) -> bool:
    category = unicodedata.category(char)
    if category == "Cc":
        return not (multiline and char in "\n\t")
    return category in ("Zl", "Zp") or char in BIDI_CONTROLS


@pytest.mark.parametrize("multiline", [False, True], ids=["single-line", "multi-line"])
def test_refused_characters_are_exactly_the_defined_ones(multiline: bool) -> None:
    wrong = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if _has_control(chr(code), multiline) != _refused_by_definition(chr(code), multiline)
    ]
    assert wrong == []


def test_a_control_anywhere_in_the_text_is_found() -> None:
    assert _has_control("Ann Example\r\nBcc: x@spam.example", multiline=False)
    assert not _has_control("line one\nline two\tend", multiline=True)
    assert _has_control("text \u202e reversed", multiline=True)
