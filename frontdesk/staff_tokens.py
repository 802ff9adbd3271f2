"""``FRONTDESK_STAFF_TOKENS``: who may use the staff API, on which forms, for which actions.

The variable is a comma-separated list of entries; each entry is ``name:token`` followed by
optional ``:forms=…`` and ``:actions=…`` parts whose values are joined with ``+``::

    ops:<token>                                      every form, every action (the old syntax)
    desk:<token>:forms=contact                       every action on the contact form only
    audit:<token>:actions=read+export                reading and exporting every form
    dpo:<token>:forms=contact+booking:actions=erase  erasures within two forms

Actions are ``read`` (list as JSON, one submission), ``export`` (CSV and JSON Lines), ``release``,
``resend``, ``delete`` and ``erase`` (``POST /v1/erasures``). A token is at least
:data:`MIN_TOKEN_LENGTH` characters (``secrets.token_urlsafe(32)`` gives 43): a short one is
guessable however the guesses are throttled. Names, tokens and form ids cannot contain ``:`` ``,``
``+`` or whitespace. Errors name the entry by its name, never by its token.
"""

from __future__ import annotations

from typing import Literal, get_args

import msgspec

StaffAction = Literal["read", "export", "release", "resend", "delete", "erase"]
ACTIONS: tuple[StaffAction, ...] = get_args(StaffAction)
MIN_TOKEN_LENGTH = 32
SYNTAX = "name:token[:forms=a+b][:actions=read+export]"


class StaffToken(msgspec.Struct, frozen=True):
    """One staff API credential: a name for the audit log, its bearer token, the form ids it may
    reach (``None``: every form) and the actions it may take.
    """

    name: str
    token: str
    forms: tuple[str, ...] | None = None
    actions: tuple[StaffAction, ...] = ACTIONS

    def __repr__(self) -> str:
        # Settings may be printed or logged; the token must not be.
        return f"StaffToken(name={self.name!r}, forms={self.forms!r}, actions={self.actions!r})"

    def may(self, action: StaffAction) -> bool:
        """Whether this token may take ``action``."""
        return action in self.actions

    def reaches(self, form_id: str) -> bool:
        """Whether this token may see submissions of ``form_id``."""
        return self.forms is None or form_id in self.forms


def _words(value: str, what: str, name: str) -> list[str]:
    words = [w.strip() for w in value.split("+")]
    if not all(words):
        raise ValueError(f"entry {name!r}: {what}= needs names joined with +")
    return words


def parse_staff_tokens(raw: str) -> list[dict[str, object]]:
    """The entries of ``raw`` as dicts :class:`StaffToken` is converted from; raises
    ``ValueError`` (naming the entry, never its token) for a malformed entry, a token shorter than
    :data:`MIN_TOKEN_LENGTH`, an unknown action, or a token or name used twice.
    """
    entries: list[dict[str, object]] = []
    for entry in filter(None, (e.strip() for e in raw.split(","))):
        name, _, rest = entry.partition(":")
        token, *options = rest.split(":")
        name, token = name.strip(), token.strip()
        if not name or not token:
            raise ValueError(f"expected comma-separated {SYNTAX} entries")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"entry {name!r}: the token has {len(token)} characters, at least "
                f"{MIN_TOKEN_LENGTH} are required (e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        parsed: dict[str, object] = {"name": name, "token": token}
        for option in options:
            key, sep, value = option.partition("=")
            key = key.strip()
            if not sep or key not in ("forms", "actions") or key in parsed:
                raise ValueError(f"entry {name!r}: expected {SYNTAX}")
            words = _words(value, key, name)
            unknown = [w for w in words if key == "actions" and w not in ACTIONS]
            if unknown:
                raise ValueError(
                    f"entry {name!r}: unknown action(s) {', '.join(unknown)}; "
                    f"known: {', '.join(ACTIONS)}"
                )
            parsed[key] = words
        if any(e["name"] == name for e in entries):
            raise ValueError(f"entry {name!r} is listed twice")
        if any(e["token"] == token for e in entries):
            raise ValueError(f"entry {name!r} has the token of another entry")
        entries.append(parsed)
    return entries
