"""``GET /v1/phone/check``'s policy: the verdict a submission would give one number, the text the
widget shows for it, and the per-client limit on checks.

The verdict is :func:`services.forms.phone.check_phone`'s under the form's phone policy (or
``possible`` without a form), in the form's default region, else the site's; the text is the
form's, in the visitor's language, so the page and the server never disagree.
"""

from __future__ import annotations

import msgspec

from frontdesk.submissions.codes import DEFAULT_MESSAGES
from frontdesk.submissions.definition import FormDefinition
from services.forms.phone import METADATA_VERSION, check_phone, normalise_region
from services.forms.schemas import PhoneCheck
from services.forms.state import FormsState
from services.forms.throttle import limit_per_minute
from services.forms.web import pick_language

PHONE_CHECKS_PER_MINUTE = 120


def phone_verdict(
    state: FormsState,
    number: str,
    region: str | None,
    form: FormDefinition | None,
    language: str | None,
    accept_language: str | None,
) -> PhoneCheck:
    """The check of ``number`` in ``region`` (a query's, else the form's or the site's default)
    under ``form``'s policy, with its text in ``language`` (a posted tag) or the best of
    ``accept_language``. Unparseable input is ``valid: false``, never an exception.
    """
    policy = form.phone.policy if form else "possible"
    default = (form.phone.default_region if form else None) or state.default_region
    verdict = check_phone(number, normalise_region(region) or default, policy, national=True)
    if form is None:
        message = "Valid number" if verdict.valid else "Invalid number"
        if verdict.accepted and not verdict.valid:
            message = DEFAULT_MESSAGES["phone_unverified"]
    else:
        tag = pick_language(form, language, accept_language)
        if verdict.valid:
            message = form.messages.text("phone_valid", tag)
        else:
            # Accepted but not valid: the submission goes through, so the widget must not say
            # "Invalid number" (the page and the server never disagree).
            code = "phone_unverified" if verdict.accepted else verdict.reason or "invalid_number"
            message = form.messages.code_text(code, tag)
    # The answer is the verdict's fields, less the number the widget sent, plus the text.
    fields = msgspec.structs.asdict(verdict)
    del fields["raw"]
    return PhoneCheck(**fields, message=message, metadata_version=METADATA_VERSION)


async def limit_phone_checks(state: FormsState, bucket: str) -> None:
    """120 checks a minute per client ``bucket`` (``web.client_bucket``: an IPv6 client's /64);
    past them 429 ``rate_limited`` with ``Retry-After``. Lifted by ``FRONTDESK_RATE_LIMITS=off``.
    When Redis does not answer, the check still runs: it needs no storage.
    """
    await limit_per_minute(
        state.limiter,
        state.settings.rate_limits,
        f"phone:{bucket}",
        PHONE_CHECKS_PER_MINUTE,
        "checks",
    )
