"""Server-side CAPTCHA verification (Cloudflare Turnstile, hCaptcha, Google reCAPTCHA); ALTCHA,
which needs no third party, is services/forms/altcha.py.

All three take a urlencoded POST of ``secret``, ``response`` and ``remoteip`` and answer JSON with a
boolean ``success``. A provider that does not answer (timeout, connection error, non-JSON, 5xx)
quarantines the submission instead of refusing it: a person is never turned away because a third
party is down.

The request carries the deployment's CAPTCHA secret, so where it goes is fixed here (the providers'
siteverify URLs) or set by ops (``FRONTDESK_CAPTCHA_VERIFY_URL``: tests, a self-hosted proxy), never
by the site directory, whose editors are not trusted with secrets (docs/security.md).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from frontdesk.submissions.definition import Captcha

VERIFY_URLS = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
    "recaptcha": "https://www.google.com/recaptcha/api/siteverify",
}
RESPONSE_FIELDS = {
    "turnstile": "cf-turnstile-response",
    "hcaptcha": "h-captcha-response",
    "recaptcha": "g-recaptcha-response",
    "altcha": "altcha",  # checked by services/forms/altcha.py, never sent anywhere
}
CaptchaVerdict = Literal["passed", "failed", "unavailable"]


class _Answer(msgspec.Struct):
    success: bool


async def verify_captcha(
    captcha: Captcha,
    secret: str | None,
    response: str | None,
    remote_ip: str,
    verify_url: str | None = None,
) -> CaptchaVerdict:
    """``passed``, ``failed`` (no or wrong response, or no secret configured) or ``unavailable``.

    ``verify_url`` is ``FRONTDESK_CAPTCHA_VERIFY_URL``; unset, the provider's own endpoint.
    """
    if not response or not secret:
        return "failed"
    # Imported here: httpx brings its command line (click, rich, pygments) along, a few MiB that a
    # forms service without a CAPTCHA would carry for nothing.
    import httpx

    url = verify_url or VERIFY_URLS[captcha.provider]
    data = {"secret": secret, "response": response, "remoteip": remote_ip}
    try:
        async with httpx.AsyncClient(timeout=captcha.timeout) as client:
            reply = await client.post(url, data=data)
        if reply.status_code >= 500:
            return "unavailable"
        answer = msgspec.json.decode(reply.content, type=_Answer)
    except (httpx.HTTPError, msgspec.DecodeError, msgspec.ValidationError):
        return "unavailable"
    return "passed" if answer.success else "failed"
