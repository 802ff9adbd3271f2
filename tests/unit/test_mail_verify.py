"""The worker's check of the bytes it is about to send (worker.messages.verify_written): every
message built from values the form accepts passes it, in every way the worker writes (7-bit or
8-bit bodies, with or without SMTPUTF8); a header added, lost, cut short or rewritten never does."""

from __future__ import annotations

import datetime as dt
import re

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.submissions.definition import load_forms
from frontdesk.submissions.record import Submission
from services.forms.validate import validate
from tests.conftest import CLINIC_SITE
from worker.messages import HeadersChanged, build_environment, staff_message, verify_written
from worker.smtp import _written

# The full staff email, whose headers are built from the visitor's values (the clinic's own
# contact form sends a summary).
FORM = msgspec.structs.replace(load_forms(CLINIC_SITE)["contact"], notify="full")
ENVS = build_environment(CLINIC_SITE, "contact")
EMAILS = [
    "ann@example.com",
    "o'brien+tag@sub.example.org",
    "x_y-z.w@xn--exmple-cua.com",
    "zoë@exämple.com",
    "李@例え.jp",
]
# Names as people type them: any script, punctuation, quotes, brackets, emoji, long ones.
NAMES = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=["Cc", "Cs", "Zl", "Zp"], exclude_characters="\x7f"
    ),
    min_size=1,
    max_size=200,
)


def submission(name: str, email: str) -> Submission | None:
    """The stored submission of a post, or ``None`` when the form refuses it."""
    values = {"name": name, "email": email, "phone": "+1 415 555 2671", "message": "Knee"}
    outcome = validate(FORM, values, "US")
    if outcome.errors:
        return None
    return Submission(
        id="01a2477607c32247f56091b383d7",
        form="contact",
        status="received",
        created_at=dt.datetime(2026, 12, 5, 18, 0, tzinfo=dt.UTC),
        fields=outcome.fields,
    )


@settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.filter_too_much],
)
@given(
    name=st.one_of(
        NAMES, st.sampled_from(['Dr. "Bob" O\'Neil, Jr. (ret.)', "Ann <x> ; :", "a" * 200])
    ),
    email=st.sampled_from(EMAILS),
    utf8=st.booleans(),
    cte_type=st.sampled_from(["7bit", "8bit"]),
)
def test_every_accepted_value_passes_the_check(
    name: str, email: str, utf8: bool, cte_type: str
) -> None:
    stored = submission(name, email)
    if stored is None:
        return
    message = staff_message(FORM, stored, ENVS)
    if not utf8 and not email.isascii():
        del message["Reply-To"]  # what deliver() does for a relay without SMTPUTF8
    _written(message, utf8=utf8, cte_type=cte_type)


def built() -> tuple[object, bytes]:
    stored = submission("Ann Example", "ann@example.com")
    assert stored is not None
    message = staff_message(FORM, stored, ENVS)
    return message, _written(message, utf8=False, cte_type="8bit")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda b: b.replace(b"\r\nSubject:", b"\r\nBcc: v@evil.example\r\nSubject:"), "added"),
        (lambda b: re.sub(rb"\r\nDate: [^\r]*", b"", b), "lost"),
        (lambda b: b.replace(b"\r\nSubject:", b"\r\n\r\nSubject:"), "cut short"),
        (lambda b: b.replace(b"<ann@example.com>", b"<boss@clinic.example>"), "address"),
        (lambda b: b.replace(b"Ann Example <", b"Dr Who <"), "display name"),
        (lambda b: b.replace(b"from Ann", b"from Bob"), "text"),
        (lambda b: b.replace(b"multipart/alternative", b"multipart/mixed"), "structure"),
        (
            lambda b: b.replace(b"Reply-To: Ann Example <", b"Reply-To: Ann Example <<"),
            "unparsable",
        ),
    ],
)
def test_a_changed_header_is_refused_without_visitor_data(change: object, why: str) -> None:
    message, flat = built()
    changed = change(flat)  # type: ignore[operator]
    assert changed != flat, why
    with pytest.raises(HeadersChanged) as refused:
        verify_written(message, changed, utf8=False)  # type: ignore[arg-type]
    text = str(refused.value)
    for visitor in ("Ann", "ann@", "example.com", "evil", "boss", "Bob", "Dr Who"):
        assert visitor not in text
    assert text.startswith("refused, not sent")


class _Unwritable:
    """A header the ``email`` package refuses to write, as a patched interpreter refuses a header
    whose folded form would hold a line break (``HeaderWriteError``), its text quoting the value."""

    name = "Subject"

    def fold(self, *, policy: object) -> str:
        raise ValueError("header value 'Ann Example <ann@example.com>' would contain a line break")


def test_a_header_the_email_package_refuses_to_write_is_refused_without_its_text() -> None:
    message, _ = built()
    del message["Subject"]  # type: ignore[attr-defined]
    message["Subject"] = _Unwritable()  # type: ignore[index]
    with pytest.raises(HeadersChanged) as refused:
        _written(message, utf8=False, cte_type="8bit")  # type: ignore[arg-type]
    assert str(refused.value) == (
        "refused, not sent: the email package could not write the headers built"
    )
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__
