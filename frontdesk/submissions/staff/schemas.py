"""Bodies of the staff routes: what they answer and accept, and the OpenAPI description of the
list route's streamed exports that Litestar cannot derive from its signature.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema

from frontdesk.submissions.record import Submission

_TEXT = Schema(type=OpenAPIType.STRING)


class Page(msgspec.Struct, kw_only=True):
    """A page of submissions, newest first; ``next_cursor`` is ``None`` on the last page."""

    items: list[Submission]
    next_cursor: str | None


class Erasure(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/erasures`` body: every submission with this address is deleted."""

    email: str


class Erased(msgspec.Struct):
    """How many submissions an erasure deleted."""

    erased: int


@dataclass
class StaffListOperation(Operation):
    """``GET /v1/forms/{form_id}/submissions``: 200 is JSON (a page), or with ``format=csv`` /
    ``format=jsonl`` a CSV (RFC 4180) or JSON Lines stream of every matching submission.
    """

    def __post_init__(self) -> None:
        responses = self.responses or {}
        ok = responses.get("200")
        if isinstance(ok, OpenAPIResponse):
            ok.content = {
                **(ok.content or {}),
                "text/csv": OpenAPIMediaType(schema=_TEXT),
                "application/jsonl": OpenAPIMediaType(schema=_TEXT),
            }
        self.responses = responses
