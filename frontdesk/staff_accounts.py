"""``FRONTDESK_STAFF``: who may sign in to the staff inbox, with which role, on which forms.

The variable is a comma-separated list of entries ``address:role`` with optional ``:forms=a+b``,
``:totp`` and ``:name=Display Name`` parts::

    desk@clinic.example:responder:name=Anna Berg     every form; replies signed "Anna Berg"
    nurse@clinic.example:reader:forms=contact        the contact form only
    ops@clinic.example:admin:totp                    must sign in with a two-step code

The name signs the replies a member sends from the inbox (the address when there is none). It
holds no comma or colon (the separators), no line break or other control character, at most
:data:`MAX_NAME` characters.

Roles are ``reader``, ``responder`` and ``admin`` (docs/inbox.md has what each may do). Addresses
are compared in lower case; an address listed twice is an error. Removing an entry ends that
address's inbox sessions at their next request (services/inbox/sessions.py).
"""

from __future__ import annotations

import unicodedata
from typing import Literal, get_args

import msgspec

Role = Literal["reader", "responder", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
SYNTAX = "address:role[:forms=a+b][:totp][:name=Display Name]"
MAX_NAME = 100
"""Most characters of a display name."""
# Line and paragraph separators, and the controls that reorder how text displays.
_REFUSED_IN_NAME = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

Action = Literal[
    "read",
    "workflow",
    "note",
    "reply",
    "release",
    "resend",
    "export",
    "erase",
    "audit",
    "accounts",
]
"""What a staff member may do in the inbox: ``read`` (list, detail, search), ``workflow`` (inquiry
status and assignee), ``note`` (internal notes), ``reply`` (email the visitor), ``release`` (a
quarantined inquiry), ``resend`` (a message), ``export`` (CSV/JSONL), ``erase`` (by email) and
``audit`` (read the audit log) and ``accounts`` (reset another member's two-step sign-in)."""
ACTIONS: tuple[Action, ...] = get_args(Action)
ALLOWED: dict[Role, frozenset[Action]] = {
    "reader": frozenset({"read"}),
    "responder": frozenset({"read", "workflow", "note", "reply", "release", "resend"}),
    "admin": frozenset(ACTIONS),
}
"""The role × action table (docs/inbox.md shows it): every action not listed is refused (403)."""


class StaffMember(msgspec.Struct, frozen=True):
    """One inbox account: its address (lower case), role, the form ids it sees (``None``:
    every form), whether it must sign in with a two-step code (``totp``, the ``:totp`` option) and
    the display name its replies are signed with (``None``: the address).
    """

    address: str
    role: Role
    forms: tuple[str, ...] | None = None
    totp: bool = False
    name: str | None = None

    @property
    def signature(self) -> str:
        """What this member's replies are signed with: the display name, else the address."""
        return self.name or self.address

    def may(self, action: Action) -> bool:
        """Whether this member's role allows ``action`` (:data:`ALLOWED`)."""
        return action in ALLOWED[self.role]

    def reaches(self, form_id: str) -> bool:
        """Whether this member may see submissions of ``form_id``."""
        return self.forms is None or form_id in self.forms


def parse_staff(raw: str) -> list[dict[str, object]]:
    """The entries of ``raw`` as dicts :class:`StaffMember` is converted from; raises
    ``ValueError`` naming the entry for a malformed one, an unknown role, an address without
    ``@`` or one listed twice.
    """
    entries: list[dict[str, object]] = []
    for entry in filter(None, (e.strip() for e in raw.split(","))):
        address, _, rest = entry.partition(":")
        role, *options = rest.split(":")
        address, role = address.strip().lower(), role.strip()
        if not address or not role:
            raise ValueError(f"expected comma-separated {SYNTAX} entries, got {entry!r}")
        local, at, domain = address.partition("@")
        if not (local and at and domain) or any(c.isspace() for c in address):
            raise ValueError(f"entry {address!r}: not an email address")
        if role not in ROLES:
            raise ValueError(f"entry {address!r}: unknown role {role!r}; known: {', '.join(ROLES)}")
        parsed: dict[str, object] = {"address": address, "role": role}
        for option in options:
            if option.strip() == "totp" and "totp" not in parsed:
                parsed["totp"] = True
                continue
            key, sep, value = option.partition("=")
            key = key.strip()
            if key == "name" and sep and "name" not in parsed:
                parsed["name"] = _display_name(address, value)
                continue
            words = [w.strip() for w in value.split("+")]
            if key != "forms" or not sep or "forms" in parsed or not all(words):
                raise ValueError(f"entry {address!r}: expected {SYNTAX}")
            parsed["forms"] = words
        if any(e["address"] == address for e in entries):
            raise ValueError(f"entry {address!r} is listed twice")
        entries.append(parsed)
    return entries


def _display_name(address: str, raw: str) -> str:
    """The display name ``raw`` of ``address``'s entry, spaces folded; raises ``ValueError`` for
    an empty one, one over :data:`MAX_NAME` characters, or one holding a control character (a line
    break among them), a line separator or a bidi control.
    """
    name = " ".join(raw.split())
    if not name:
        raise ValueError(f"entry {address!r}: name= is empty")
    if len(name) > MAX_NAME:
        raise ValueError(f"entry {address!r}: the name has over {MAX_NAME} characters")
    if any(unicodedata.category(c) == "Cc" or c in _REFUSED_IN_NAME for c in raw):
        raise ValueError(f"entry {address!r}: the name holds a line break or control character")
    return name
