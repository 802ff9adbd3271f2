"""The sign-in mail job: ``send_sign_in_link(link_id)``.

The job's one argument is the link id; the address comes from the link's record and the link's
secret (its mac, :mod:`frontdesk.signin_links`) is computed here from the ``sign-in-links`` key,
so no copy of it is kept in the job, the record or a log line. An unknown address's record gets
no mail (the inbox answered it as a known one). A relay's transient failure is retried by RQ on
the job's schedule while the link is still valid.
"""

from __future__ import annotations

import asyncio
import logging
import time
from email.message import EmailMessage
from email.utils import make_msgid

import msgspec

from frontdesk.redis import connect
from frontdesk.signin_links import LinkRecord, link_mac, link_url
from frontdesk.submissions.keys import sign_in_link_key
from frontdesk.submissions.secret import key_for
from worker.context import current_context
from worker.outage import riding_out
from worker.smtp import deliver

log = logging.getLogger("frontdesk.worker")

BODY = """Hello,

someone (we hope you) asked to sign in to the Frontdesk inbox. Open this link in the same
browser within 15 minutes:

{url}

It works once. If you did not ask, ignore this mail: nobody can use the link from another browser.
"""


def send_sign_in_link(link_id: str) -> str:
    """Mail the sign-in link ``link_id`` to its address. Returns ``sent``, ``gone`` (expired or
    used), or ``unknown`` (not a staff address: nothing sent). Raises
    :class:`~worker.smtp.DeliveryError` on a transient failure so RQ retries.
    """
    settings = current_context().settings
    connection = connect(settings.redis_url, retry=riding_out())
    raw = connection.get(sign_in_link_key(link_id))
    if raw is None:
        log.info("sign-in link %s is gone; nothing sent", link_id)
        return "gone"
    record = msgspec.json.decode(raw, type=LinkRecord)
    if record.expires <= time.time():
        log.info("sign-in link %s expired before it was mailed", link_id)
        return "gone"
    if not record.known:
        log.info("sign-in link %s: not a staff address; nothing sent", link_id)
        return "unknown"
    mac = link_mac(key_for(connection, settings.secret_key, "sign-in-links"), link_id)
    sender = settings.inbox_mail_from
    message = EmailMessage()
    message["From"] = sender
    message["To"] = record.address
    message["Subject"] = "Your Frontdesk sign-in link"
    message["Message-ID"] = make_msgid(
        "sign-in", sender.rsplit("@", 1)[-1].rstrip(">").strip() or None
    )
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(BODY.format(url=link_url(settings.inbox_url, link_id, mac)))
    asyncio.run(deliver(message, [record.address], settings))
    log.info("sign-in link %s mailed", link_id)
    return "sent"
