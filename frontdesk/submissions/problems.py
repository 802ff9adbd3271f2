"""Problems (RFC 9457) of the submission domain that more than one service answers."""

from __future__ import annotations

from collections.abc import Container

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


# Seconds a client is asked to wait before trying a form whose file is broken: an editor's fix is
# picked up within a second of saving (the reload), so a short wait is enough.
FORM_RETRY_AFTER = 60


def form_unavailable(form_id: str, *, headers: dict[str, str] | None = None) -> ProblemError:
    """503 ``form_unavailable`` with ``Retry-After``: the form's file is broken (the site's problem,
    named on the internal readiness answer), and it answers again once the file is fixed.
    """
    return ProblemError(
        503,
        "form_unavailable",
        f"The form {form_id!r} is unavailable for now; try again later.",
        headers={"Retry-After": str(FORM_RETRY_AFTER), **(headers or {})},
    )


def missing_form(
    broken: Container[str], form_id: str, *, headers: dict[str, str] | None = None
) -> ProblemError:
    """The problem for a form id without a usable definition: :func:`form_unavailable` when its
    file is among ``broken``, else :func:`form_not_found`.
    """
    if form_id in broken:
        return form_unavailable(form_id, headers=headers)
    return form_not_found(form_id, headers=headers)
