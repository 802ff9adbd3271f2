"""The role × action table (frontdesk/staff_accounts.py ``ALLOWED``, shown in docs/inbox.md
"Roles"), through the inbox's routes: every cell the table denies answers 403 to a request with a
live session AND this browser's CSRF token, and changes nothing; every cell it allows works.

:data:`REQUESTS` holds one or more requests per action whose route exists; an action whose route
is not built yet is in :data:`PENDING` until its rows are added (a test keeps the two complete).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import redis

from frontdesk.staff_accounts import ACTIONS, ALLOWED, ROLES, Action, Role
from frontdesk.submissions.record import Submission
from frontdesk.submissions.store import load_submission
from tests.inbox_sessions import staff_client
from tests.service.test_inbox import Clock
from tests.service.test_inbox_workflow import VISITOR_EMAIL, raw, stored_inquiry

MEMBERS: dict[Role, str] = {role: f"{role}@clinic.example" for role in ROLES}
STAFF = ",".join(f"{address}:{role}" for role, address in MEMBERS.items())
ROOT = Path(__file__).resolve().parents[2]


class Row(NamedTuple):
    """One request of an action: ``method``, ``path`` (``{id}``: the inquiry's id), the form
    ``data`` (the CSRF token is added) and ``done``, whether the stored record (``None`` when
    gone) shows it took effect for the acting ``address``.
    """

    method: str
    path: str
    data: dict[str, str]
    done: Callable[[Submission | None, str], bool]


REQUESTS: dict[Action, list[Row]] = {
    "read": [
        Row("GET", "/inquiries/{id}", {}, lambda s, who: s is not None and who in s.read_by),
    ],
    "workflow": [
        Row(
            "POST",
            "/inquiries/{id}/status",
            {"status": "in_progress"},
            lambda s, who: s is not None and s.inquiry_status == "in_progress",
        ),
        Row(
            "POST",
            "/inquiries/{id}/assignee",
            {"assignee": MEMBERS["responder"]},
            lambda s, who: s is not None and s.assignee == MEMBERS["responder"],
        ),
    ],
    "note": [
        Row(
            "POST",
            "/inquiries/{id}/notes",
            {"text": "Role check note"},
            lambda s, who: (
                s is not None
                and [(n.author, n.text) for n in s.notes] == [(who, "Role check note")]
            ),
        ),
    ],
    "export": [
        Row(
            "POST",
            "/export",
            {"form": "contact", "format": "csv", "confirm": "yes"},
            lambda s, who: s is not None,
        ),
    ],
    "erase": [
        Row(
            "POST",
            "/erase",
            {"email": VISITOR_EMAIL, "confirm": "yes"},
            lambda s, who: s is None,
        ),
    ],
    "audit": [
        Row("GET", "/audit", {}, lambda s, who: s is not None),
    ],
    "accounts": [
        Row(
            "POST",
            "/account/totp/reset",
            {"address": MEMBERS["reader"]},
            lambda s, who: s is not None,
        ),
    ],
}
"""Requests by action; add the rows of reply, release, resend, export, erase and audit when their
routes exist (and take them out of :data:`PENDING`)."""

PENDING: frozenset[Action] = frozenset({"reply", "release", "resend"})
"""Actions whose routes are not on this branch yet."""

CELLS = [
    (role, action, index)
    for role in ROLES
    for action, rows in REQUESTS.items()
    for index in range(len(rows))
]
DENIED = [c for c in CELLS if c[1] not in ALLOWED[c[0]]]
GRANTED = [c for c in CELLS if c[1] in ALLOWED[c[0]]]


def cell_id(cell: tuple[Role, Action, int]) -> str:
    role, action, index = cell
    return f"{role}-{action}-{index}"


@pytest.fixture
def inquiry(env: dict[str, str], redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FRONTDESK_STAFF", STAFF)
    monkeypatch.setenv("FRONTDESK_INBOX_URL", "https://inbox.clinic.example")
    return stored_inquiry(redis_client)


def send(role: Role, row: Row, submission_id: str) -> Any:
    """``row`` sent as the member of ``role``, signed in, with this browser's CSRF token."""
    path = row.path.format(id=submission_id)
    with staff_client(MEMBERS[role], Clock()) as staff:
        if row.method == "GET":
            return staff.client.get(path, follow_redirects=False)
        return staff.post(path, row.data)


def test_every_action_has_rows_or_is_pending() -> None:
    assert set(REQUESTS) | PENDING == set(ACTIONS)
    assert not set(REQUESTS) & PENDING
    assert DENIED, "the table denies something on the routes that exist"


@pytest.mark.parametrize("cell", DENIED, ids=cell_id)
def test_a_denied_cell_answers_403_and_changes_nothing(
    inquiry: str, redis_client: redis.Redis, cell: tuple[Role, Action, int]
) -> None:
    role, action, index = cell
    row = REQUESTS[action][index]
    before = raw(redis_client, inquiry)
    answer = send(role, row, inquiry)
    assert answer.status_code == 403, answer.text
    assert "Not allowed" in answer.text
    assert f"Your role ({role}) does not allow this" in answer.text
    assert raw(redis_client, inquiry) == before


@pytest.mark.parametrize("cell", GRANTED, ids=cell_id)
def test_an_allowed_cell_works(
    inquiry: str, redis_client: redis.Redis, cell: tuple[Role, Action, int]
) -> None:
    role, action, index = cell
    row = REQUESTS[action][index]
    answer = send(role, row, inquiry)
    assert answer.status_code in (200, 303), answer.text
    if answer.status_code == 303:
        assert answer.headers["location"] != "/sign-in"
    assert row.done(load_submission(redis_client, inquiry), MEMBERS[role])


def documented_table() -> dict[str, dict[str, bool]]:
    """docs/inbox.md's "Roles" table: action → role → allowed ("yes"/"no" cells)."""
    text = (ROOT / "docs" / "inbox.md").read_text(encoding="utf-8")
    section = text.split("\n## Roles\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    roles = header[2:]
    table: dict[str, dict[str, bool]] = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        action = re.sub(r"`", "", cells[0])
        table[action] = {role: cells[2 + i] == "yes" for i, role in enumerate(roles)}
    return table


def test_the_docs_show_the_table_the_code_enforces() -> None:
    expected = {action: {role: action in ALLOWED[role] for role in ROLES} for action in ACTIONS}
    assert documented_table() == expected
