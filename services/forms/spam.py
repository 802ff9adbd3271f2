"""The spam checks of a submission that quarantine rather than refuse: the honeypot, the time
trap's token (services/forms/timetrap.py) and the CAPTCHA (services/forms/captcha.py). Each gives
*reasons*: an empty list is a person so far; any reason keeps the submission quarantined for staff.
"""

from __future__ import annotations

from typing import Any

from frontdesk.submissions.definition import FormDefinition
from services.forms.captcha import RESPONSE_FIELDS, verify_captcha
from services.forms.state import FormsState
from services.forms.timetrap import check_token


async def spam_reasons(
    state: FormsState, form: FormDefinition, data: dict[str, Any], flags: list[str]
) -> list[str]:
    """Quarantine reasons but the CAPTCHA's (empty: a person so far); adds ``no_token`` to
    ``flags`` when it is missing (and ``token_expired`` too when it is past the form's
    ``token_lifetime_hours``). Raises ``redis.RedisError`` when the time trap's key is needed and
    Redis does not answer.
    """
    reasons: list[str] = []
    honeypot = data.get(form.spam.honeypot)
    values = honeypot if isinstance(honeypot, list) else [honeypot]
    if any(v not in (None, "", False) and (not isinstance(v, str) or v.strip()) for v in values):
        reasons.append("honeypot")
    token = data.get("_token")
    if token in (None, ""):
        flags.append("no_token")
    else:
        secret = await state.secret()
        verdict = (
            check_token(
                secret,
                form.id,
                token,
                form.spam.min_fill_seconds,
                lifetime=form.spam.token_lifetime_hours * 3600,
                legacy=state.legacy,
            )
            if isinstance(token, str)
            else "forged"
        )
        if verdict == "expired":  # counts as missing; the second flag tells staff why
            flags += ["no_token", "token_expired"]
        elif verdict == "missing":  # signed with the key before the upgrade
            flags.append("no_token")
        elif verdict != "ok":
            reasons.append(f"token_{verdict}")
    return reasons


async def captcha_reasons(
    state: FormsState, form: FormDefinition, data: dict[str, Any], ip: str
) -> list[str]:
    """``[captcha_failed]`` or ``[captcha_unavailable]`` unless the provider passes the post."""
    captcha = form.spam.captcha
    if captcha is None:
        return []
    response = data.get(RESPONSE_FIELDS[captcha.provider])
    result = await verify_captcha(
        captcha,
        state.settings.captcha_secret,
        response if isinstance(response, str) else None,
        ip,
        verify_url=state.settings.captcha_verify_url,
    )
    return [] if result == "passed" else [f"captcha_{result}"]
