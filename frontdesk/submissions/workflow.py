"""Working an inquiry in the inbox: its status, its assignee, internal notes and who has read it.

Everything here lives on the record (:class:`~frontdesk.submissions.record.Submission`'s
``inquiry_status``, ``assignee``, ``notes`` and ``read_by``), so it expires with the form's
retention and goes with an erasure. The functions that change a record are pure: they mutate the
:class:`Submission` they are given and raise before changing anything when the change is refused,
so they can run inside :func:`~frontdesk.submissions.store.update_submission`'s ``mutate`` (one
atomic update; nothing written when they raise). :func:`change` runs one such change on a stored
record.

Status (:data:`TRANSITIONS`)::

    new ──► in_progress ──► answered ──► closed
     │          │   ▲           │          │
     │          │   └───────────┘          │   (answered → in_progress: the visitor wrote back)
     └──────────┴──────────► closed ◄──────┘
    closed ──► in_progress                     (reopen)

Choosing the status it already has is no change (two staff closing it at once both succeed).
A reply sent to the visitor marks the inquiry answered from any status (:func:`answer`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import get_args

import msgspec
import redis

from frontdesk.staff_accounts import StaffMember
from frontdesk.submissions.record import InquiryStatus, Note, Submission
from frontdesk.submissions.store import update_submission

STATUSES: tuple[InquiryStatus, ...] = get_args(InquiryStatus)
LABELS: dict[InquiryStatus, str] = {
    "new": "New",
    "in_progress": "In progress",
    "answered": "Answered",
    "closed": "Closed",
}
"""What the inbox shows for each status."""

TRANSITIONS: dict[InquiryStatus, frozenset[InquiryStatus]] = {
    "new": frozenset({"in_progress", "closed"}),
    "in_progress": frozenset({"answered", "closed"}),
    "answered": frozenset({"in_progress", "closed"}),
    "closed": frozenset({"in_progress"}),
}
"""The statuses staff may move an inquiry to from each status (besides keeping it)."""

NOTE_MAX_CHARS = 4000
"""The longest internal note, in characters (line breaks count one each)."""

# C0/C1 controls but tab and line feed, line/paragraph separators, bidirectional overrides and
# isolates: they would make a note read differently from what was stored.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class WorkflowRefused(Exception):
    """A change the workflow does not allow. ``str()`` is a sentence for staff; ``conflict`` says
    whether the inquiry's current state refused it (HTTP 409) rather than the value asked for
    (HTTP 422).
    """

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


def allowed_next(current: InquiryStatus) -> list[InquiryStatus]:
    """The statuses an inquiry in ``current`` may be set to, ``current`` first, in workflow order."""
    return [current, *(s for s in STATUSES if s in TRANSITIONS[current])]


def set_status(submission: Submission, wanted: str) -> None:
    """Move ``submission`` to the status ``wanted`` (a value of :data:`STATUSES`); the status it
    has already is no change. Raises :class:`WorkflowRefused`: ``wanted`` is not a status (422),
    or :data:`TRANSITIONS` does not lead there from the current one (409, ``conflict``).
    """
    if wanted not in STATUSES:
        raise WorkflowRefused(f"{wanted!r} is not a status. Choose one of the list.")
    current = submission.inquiry_status
    if wanted == current:
        return
    if wanted not in TRANSITIONS[current]:
        choices = ", ".join(LABELS[s] for s in allowed_next(current)[1:])
        raise WorkflowRefused(
            f"An inquiry that is {LABELS[current].lower()} cannot become "
            f"{LABELS[wanted].lower()} (it can become: {choices}). "
            "Someone may have changed it meanwhile: reload the page.",
            conflict=True,
        )
    submission.inquiry_status = wanted


def answer(submission: Submission) -> None:
    """Mark ``submission`` answered because a reply was sent to the visitor: from any status
    (a reply to a closed inquiry reopens it as answered). Never raises, so a reply's
    ``update_submission`` mutate can call it after adding the reply.
    """
    submission.inquiry_status = "answered"


def assignable(submission: Submission, staff: Mapping[str, StaffMember]) -> list[str]:
    """The staff addresses (of ``staff``, from ``FRONTDESK_STAFF``) ``submission`` may be assigned
    to: those whose forms include its form and whose role may work an inquiry (a reader could
    not act on it), sorted.
    """
    return sorted(a for a, m in staff.items() if m.reaches(submission.form) and m.may("workflow"))


def assign(submission: Submission, assignee: str, staff: Mapping[str, StaffMember]) -> None:
    """Assign ``submission`` to ``assignee`` (compared in lower case), or unassign it when
    ``assignee`` is empty. Raises :class:`WorkflowRefused` (422) when ``assignee`` is not one of
    :func:`assignable`: an address off the staff list is never stored.
    """
    address = assignee.strip().lower()
    if not address:
        submission.assignee = None
        return
    if address not in assignable(submission, staff):
        raise WorkflowRefused(
            "Inquiries can be assigned only to staff who see this form and may work it "
            "(not readers). Choose one of the list."
        )
    submission.assignee = address


def add_note(submission: Submission, author: str, text: str, at: dt.datetime) -> Note:
    """Append an internal note by ``author`` (a staff address) written ``at`` (UTC) and return it.
    ``text`` is kept with its line breaks (CRLF made LF) and without surrounding blank space.
    Raises :class:`WorkflowRefused` (422) when it is empty, longer than :data:`NOTE_MAX_CHARS`
    or holds a control character other than tab and line feed.
    """
    cleaned = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not cleaned:
        raise WorkflowRefused("The note is empty. Write something first.")
    if len(cleaned) > NOTE_MAX_CHARS:
        raise WorkflowRefused(
            f"The note has {len(cleaned):,} characters; at most {NOTE_MAX_CHARS:,} fit. "
            "Shorten it or split it in two."
        )
    if _CONTROL.search(cleaned):
        raise WorkflowRefused("The note holds a control character. Type it again as plain text.")
    note = Note(author=author, at=at, text=cleaned)
    submission.notes.append(note)
    return note


def mark_read(submission: Submission, address: str) -> bool:
    """Add ``address`` (a staff address) to ``submission.read_by`` unless it is there already;
    returns whether it was added.
    """
    if address in submission.read_by:
        return False
    submission.read_by.append(address)
    return True


class Unreachable(Exception):
    """The record is on a form the staff member does not see (answer as if it did not exist)."""


def change(
    connection: redis.Redis,
    submission_id: str,
    member: StaffMember,
    mutate: Callable[[Submission], object],
) -> Submission | None:
    """Run ``mutate`` (one of this module's changes) on the stored record of ``submission_id`` in
    one atomic update that keeps its TTL; returns the updated record, or ``None`` when it is gone
    (expired or erased) or on a form ``member`` does not see. Raises :class:`WorkflowRefused`
    (nothing written) and ``redis.RedisError``.
    """

    def checked(submission: Submission) -> None:
        if not member.reaches(submission.form):
            raise Unreachable
        mutate(submission)

    try:
        return update_submission(connection, submission_id, checked)
    except Unreachable:
        return None


class Panel(msgspec.Struct, frozen=True, kw_only=True):
    """What the inbox's workflow panel offers for one inquiry to one member: ``statuses``
    (value, label) the status select lists, current first; ``assignees``, the addresses the
    assignee select lists; ``assignee_gone``, the stored assignee when it is no longer one of
    them (left the staff list or the form); ``may_work`` and ``may_note``, whether the member's
    role allows changing status and assignee, and writing notes.
    """

    statuses: list[tuple[str, str]]
    assignees: list[str]
    assignee_gone: str | None
    may_work: bool
    may_note: bool


def panel(submission: Submission, member: StaffMember, staff: Mapping[str, StaffMember]) -> Panel:
    """The :class:`Panel` of ``submission`` for ``member`` among ``staff``."""
    assignees = assignable(submission, staff)
    gone = submission.assignee if submission.assignee not in (None, *assignees) else None
    return Panel(
        statuses=[(s, LABELS[s]) for s in allowed_next(submission.inquiry_status)],
        assignees=assignees,
        assignee_gone=gone,
        may_work=member.may("workflow"),
        may_note=member.may("note"),
    )
