"""One checked HTTP POST: what webhooks and chat messages share.

The destination is checked on every attempt (:mod:`worker.destinations`: ``https``, global
addresses unless ops allow more) and the POST connects to the checked address, with the URL's host
in ``Host`` and as the TLS server name. Redirects are not followed.

The request goes through httpx's transport, not its client: the client logs every request's URL
(logger ``httpx``, level INFO), and a chat webhook's URL is a secret (a Telegram one carries the
bot token in its path). Nothing here logs; errors name the host, never the path or the query.

Outcomes follow RFC 9110: 2xx delivered; 408, 429, 5xx, connection errors, timeouts and a host that
does not resolve are transient; any other status, and a refused destination, are permanent.
"""

from __future__ import annotations

import httpx

from frontdesk.settings import Settings
from worker.destinations import Refused, Unresolved, check
from worker.smtp import DeliveryError


def post_checked(url: str, body: bytes, headers: dict[str, str], settings: Settings) -> int:
    """POST ``body`` with ``headers`` (``Host`` is added) to ``url``; returns the 2xx status.

    Raises :class:`~worker.smtp.DeliveryError` (``code`` = HTTP status, ``None`` without one),
    whose text holds no part of ``url`` but its host.
    """
    try:
        target = check(
            url,
            allow_http=settings.webhook_allow_http,
            allow_networks=settings.webhook_allow_networks,
        )
    except Refused as exc:
        raise DeliveryError(None, str(exc), permanent=True) from None
    except Unresolved as exc:
        raise DeliveryError(None, str(exc), permanent=False) from None
    parts = httpx.URL(url)
    sent = {"Host": parts.netloc.decode("ascii"), **headers}
    timeout = httpx.Timeout(settings.smtp_timeout).as_dict()
    # trust_env=False: no proxy from the environment, which would resolve the host again.
    with httpx.HTTPTransport(trust_env=False) as transport:
        for index, address in enumerate(target.addresses):
            request = httpx.Request(
                "POST",
                parts.copy_with(host=address),
                content=body,
                headers=sent,
                # The certificate is verified for the host name, not the pinned address.
                extensions={"sni_hostname": target.host, "timeout": timeout},
            )
            try:
                response = transport.handle_request(request)
                try:
                    response.read()
                finally:
                    response.close()
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing was sent: the next checked address may answer.
                if index + 1 < len(target.addresses):
                    continue
                raise DeliveryError(None, _error_text(exc), permanent=False) from None
            except httpx.HTTPError as exc:
                raise DeliveryError(None, _error_text(exc), permanent=False) from None
    status = response.status_code
    if 200 <= status < 300:
        return status
    transient = status in (408, 429) or status >= 500
    raise DeliveryError(status, response.reason_phrase[:200], permanent=not transient)


def _error_text(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
