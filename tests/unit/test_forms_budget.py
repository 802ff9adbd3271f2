"""The mailbox the auto-reply bounds count (frontdesk/submissions/budget.py ``mailbox``)."""

from __future__ import annotations

from frontdesk.settings import Settings
from frontdesk.submissions.budget import mailbox, recipient_limits


def test_a_subaddress_is_dropped_at_every_domain_and_case_is_folded() -> None:
    assert mailbox("Ann+Knee@Example.org") == ("ann@example.org", "example.org")
    assert mailbox("ann+a+b@example.org") == ("ann@example.org", "example.org")
    # A dot is part of the name outside Gmail.
    assert mailbox("a.nn@example.org") == ("a.nn@example.org", "example.org")


def test_gmail_ignores_dots_and_googlemail_is_gmail() -> None:
    assert mailbox("A.n.N+x@GoogleMail.com") == ("ann@gmail.com", "gmail.com")
    assert mailbox("a.nn@gmail.com") == ("ann@gmail.com", "gmail.com")
    # Only the local part loses its dots.
    assert mailbox("ann@mail.example.org") == ("ann@mail.example.org", "mail.example.org")


def test_every_spelling_of_a_mailbox_has_the_same_keys() -> None:
    settings = Settings()
    keys = {
        tuple(limit.name for limit in recipient_limits(settings, spelling))
        for spelling in ("ann@gmail.com", "a.nn+1@gmail.com", "ANN@googlemail.com")
    }
    assert len(keys) == 1
