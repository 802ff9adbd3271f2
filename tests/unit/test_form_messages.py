"""A form's texts in a language (Messages.text, Messages.code_text): the translation, else the
form's English text, else the default."""

from __future__ import annotations

from frontdesk.submissions.codes import DEFAULT_MESSAGES
from frontdesk.submissions.definition import DEFAULT_SUCCESS, Messages, Translation

MESSAGES = Messages(
    error="Something broke.",
    codes={"required": "Fill this in."},
    languages={
        "fr": Translation(success="Merci !", back="Retour", codes={"too_long": "Trop long."}),
        "de": Translation(),
    },
)


def test_text_falls_back_to_english() -> None:
    assert MESSAGES.text("success", "fr") == "Merci !"
    assert MESSAGES.text("back", "fr") == "Retour"
    assert MESSAGES.text("error", "fr") == "Something broke."
    assert MESSAGES.text("success", "de") == DEFAULT_SUCCESS
    assert MESSAGES.text("phone_valid", "xx") == "Valid number"
    assert MESSAGES.text("back", "en") == "Go back"


def test_code_text_falls_back_to_english_then_the_default() -> None:
    assert MESSAGES.code_text("too_long", "fr") == "Trop long."
    assert MESSAGES.code_text("required", "fr") == "Fill this in."
    assert MESSAGES.code_text("invalid_email", "fr") == DEFAULT_MESSAGES["invalid_email"]
    assert MESSAGES.code_text("too_long", "en") == DEFAULT_MESSAGES["too_long"]
    assert MESSAGES.code_text("no_such_code", "en") == "This value is not accepted."
