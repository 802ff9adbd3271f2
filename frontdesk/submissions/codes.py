"""The error codes a submission can be refused or flagged with, and their default English texts
(a form's ``messages.codes`` and ``messages.languages`` override them).
"""

from __future__ import annotations

# Every code a client can receive, with its default text: the field error codes (a phone's
# libphonenumber reasons among them) and phone_unverified, the phone check's text for a number a
# submission accepts but cannot verify. One code, one text: a phone that is too long (its
# max_length, or too many digits) is "too_long" with too_long's text, as any other field, so the
# published messages.codes never disagree with what the server sends.
DEFAULT_MESSAGES = {
    "required": "This field is required.",
    "too_long": "This value is too long.",
    "invalid_option": "Choose one of the offered options.",
    "control_characters": "Line breaks and control characters are not allowed here.",
    "encoded_word": "Encoded text of the form =?…?= is not accepted here.",
    "unknown_field": "This form has no such field.",
    "not_a_string": "Send this field once, as text.",
    "invalid_email": "Enter a valid email address.",
    "email_display_name": "Enter only the email address, without a name or angle brackets.",
    "email_quoted_local": "Quoted email addresses are not accepted.",
    "invalid_country_code": "Invalid number",
    "too_short": "Invalid number",
    "invalid_length": "Invalid number",
    "not_a_number": "Invalid number",
    "invalid_number": "Invalid number",
    "phone_unverified": "This number could not be verified; please check it.",
    # The typed fields (frontdesk/submissions/fieldtypes.py). "number_invalid", not
    # "invalid_number": that one is the phone's, and one code has one text.
    "invalid_date": "Enter a date as YYYY-MM-DD.",
    "date_too_early": "Choose a later date.",
    "date_too_late": "Choose an earlier date.",
    "invalid_time": "Enter a time as HH:MM.",
    "time_too_early": "Choose a later time.",
    "time_too_late": "Choose an earlier time.",
    "number_invalid": "Enter a number.",
    "number_too_small": "Enter a larger number.",
    "number_too_large": "Enter a smaller number.",
    "number_step": "Enter a number on the allowed steps.",
}
