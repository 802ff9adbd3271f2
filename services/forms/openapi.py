"""OpenAPI operations of the forms routes that Litestar cannot describe from their signatures.

The submission handler reads its body itself (three media types) and answers a plain HTML post
with an HTML page or a 303. This ``Operation`` subclass (``operation_class=`` on the route) adds
what the document would otherwise leave out, so clients and the schemathesis fuzzing
(``tests/fuzz``) can rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

SUBMISSION_MEDIA_TYPES = (
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
)
HTML = "text/html"
_TEXT = Schema(type=OpenAPIType.STRING)


@dataclass
class SubmitOperation(Operation):
    """``POST /v1/forms/{form_id}/submissions``: the body is an object of field name → text in
    JSON, urlencoded or multipart; every error status but 404 and 415 may also be a ``text/html``
    page (a plain HTML post, docs/embedding.md), and such a post is answered 200 ``text/html`` or 303 on
    success (and 303 on an error when the form has an error page).
    """

    def __post_init__(self) -> None:
        fields = Schema(
            type=OpenAPIType.OBJECT,
            additional_properties=_TEXT,
            min_properties=1,
            description="Field name → value; names starting with `_` are reserved.",
        )
        self.request_body = RequestBody(
            required=True,
            content={media: OpenAPIMediaType(schema=fields) for media in SUBMISSION_MEDIA_TYPES},
        )
        responses = self.responses or {}
        for status, response in responses.items():
            # An unknown form (404) is answered before the HTML check, and a 415 is a body that
            # is neither urlencoded nor multipart, so never a plain HTML post: problem+json only.
            if (
                isinstance(response, OpenAPIResponse)
                and status[0] in "45"
                and status not in ("404", "415")
            ):
                response.content = {
                    **(response.content or {}),
                    HTML: OpenAPIMediaType(schema=_TEXT),
                }
        responses["200"] = OpenAPIResponse(
            description="A plain HTML post accepted, the form has no success redirect: a page",
            content={HTML: OpenAPIMediaType(schema=_TEXT)},
        )
        responses["303"] = OpenAPIResponse(
            description=(
                "A plain HTML post: to the form's success or error page (Location; the error"
                " page's query gets error=<code>, fields=<names>, retry_after=<seconds>); the"
                " body is a short HTML note linking there"
            ),
            content={HTML: OpenAPIMediaType(schema=_TEXT)},
        )
        self.responses = responses
