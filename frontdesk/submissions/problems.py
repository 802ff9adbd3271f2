"""Problems (RFC 9457) of the submission domain that more than one service answers."""

from __future__ import annotations

from frontdesk.problems import ProblemError


def form_not_found(form_id: str, *, headers: dict[str, str] | None = None) -> ProblemError:
    """404 ``form_not_found`` for a form id no loaded form has (``headers``: e.g. ``Vary``)."""
    return ProblemError(404, "form_not_found", f"There is no form {form_id!r}.", headers=headers)


def store_unavailable() -> ProblemError:
    """503 ``store_unavailable``: Redis, which holds the submissions, does not answer."""
    return ProblemError(503, "store_unavailable", "Redis does not answer.")


def submission_not_found(submission_id: str) -> ProblemError:
    """404 ``submission_not_found`` for an id no stored submission has (never stored, expired,
    deleted or erased: the answer does not say which).
    """
    return ProblemError(404, "submission_not_found", f"There is no submission {submission_id!r}.")
