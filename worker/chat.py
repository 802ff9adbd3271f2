"""Chat messages of a new inquiry: Slack, Microsoft Teams, Discord and Telegram.

One message per ``notify_chat`` target of the form (message kinds ``chat_1`` …), sent by the
worker like the webhook (:mod:`worker.outbound`: the destination checked on every attempt, the
email's retries). Where it goes is an ops secret, ``FRONTDESK_CHAT_<NAME>``: an incoming webhook
URL, or a Telegram ``<bot token>/<chat id>``; the request's URL is then a secret too, so it is never
logged, stored or raised (:func:`send` takes it out of every error's text).

What it says (:func:`chat_text`): the form's title, the time (UTC) and a link to the inquiry in the
inbox (``FRONTDESK_INBOX_URL`` + ``/inquiries/<id>``). The visitor's values only when the form
says ``notify: full`` explicitly and the target ``full: true`` (docs/security.md: a chat service
keeps every message on its servers, outside the clinic's retention and erasure).

Visitor text never becomes structure: each format escapes it (:func:`slack_escape`,
:func:`discord_escape`, :func:`teams_escape`; Telegram is sent without ``parse_mode``, as plain
text), mentions are disabled (Discord ``allowed_mentions``; Slack's ``<!channel>`` is escaped) and
link previews are off, so no chat service fetches a URL a visitor typed.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from frontdesk.settings import CHAT_PREFIX, Settings
from frontdesk.submissions.definition import TELEGRAM_SECRET, ChatTarget, FormDefinition
from frontdesk.submissions.record import Submission
from worker.outbound import post_checked
from worker.smtp import DeliveryError

# Discord accepts 2000 characters of content, Telegram 4096; Slack and Teams more than a form holds.
LIMITS = {"discord": 2000, "telegram": 4096, "slack": 12000, "teams": 12000}
_DISCORD_SPECIAL = re.compile(r"([\\*_~`|>#\-\[\]()<@:])")
_TEAMS_SPECIAL = re.compile(r"([\\*_~`|>#\-\[\]()+!])")
DISCORD_SUPPRESS_EMBEDS = 1 << 2


class ChatText(msgspec.Struct, frozen=True, kw_only=True):
    """What a chat message says: the form's ``title``, ``when`` it came (UTC text), the ``link``
    to it in the inbox, and ``fields`` (label, value) pairs, empty for a summary.
    """

    title: str
    when: str
    link: str
    fields: list[tuple[str, str]] = []


def chat_text(
    form: FormDefinition, target: ChatTarget, submission: Submission, settings: Settings
) -> ChatText:
    """The text of ``target``'s message about ``submission``: values only when
    :meth:`~frontdesk.submissions.definition.FormDefinition.chat_full` says so.
    """
    fields: list[tuple[str, str]] = []
    if form.chat_full(target):
        fields = [
            (field.label, submission.fields[field.name])
            for field in form.fields
            if submission.fields.get(field.name)
        ]
    return ChatText(
        title=form.title,
        when=submission.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        link=f"{settings.inbox_url.rstrip('/')}/inquiries/{submission.id}",
        fields=fields,
    )


def slack_escape(text: str) -> str:
    """Slack's three control characters as entities (Slack, "Escaping text"): ``<!channel>``,
    ``<@U123>`` and ``<url|label>`` stay text.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def discord_escape(text: str) -> str:
    """Every markdown character backslash-escaped (bold, links, headings, spoilers, mentions'
    ``<@id>`` and ``@everyone``); the payload's ``allowed_mentions`` keeps any mention silent too.
    """
    return _DISCORD_SPECIAL.sub(r"\\\1", text)


def teams_escape(text: str) -> str:
    """Adaptive Card markdown backslash-escaped, and ``{{`` broken (the card's ``{{DATE(…)}}``
    functions): a visitor's text shows as typed.
    """
    return _TEAMS_SPECIAL.sub(r"\\\1", text).replace("{{", "{\u200b{")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_body(text: ChatText) -> dict[str, Any]:
    """Slack incoming webhook: ``{"text": mrkdwn}``, link unfurling off."""
    lines = [f"*New inquiry: {slack_escape(text.title)}*", text.when]
    lines += [f"*{slack_escape(label)}:* {slack_escape(value)}" for label, value in text.fields]
    lines.append(f"<{text.link}|Open it in the inbox>")
    return {
        "text": _cut("\n".join(lines), LIMITS["slack"]),
        "unfurl_links": False,
        "unfurl_media": False,
    }


def discord_body(text: ChatText) -> dict[str, Any]:
    """Discord webhook: ``content`` in markdown, no mention allowed, embeds suppressed."""
    lines = [f"**New inquiry: {discord_escape(text.title)}**", text.when]
    lines += [
        f"**{discord_escape(label)}:** {discord_escape(value)}" for label, value in text.fields
    ]
    # The link last, whole: a cut never leaves half a URL.
    link = f"\n<{text.link}>"
    return {
        "content": _cut("\n".join(lines), LIMITS["discord"] - len(link)) + link,
        "allowed_mentions": {"parse": []},
        "flags": DISCORD_SUPPRESS_EMBEDS,
    }


def telegram_body(text: ChatText, chat_id: str) -> dict[str, Any]:
    """Telegram ``sendMessage``: plain text (no ``parse_mode``: nothing is markup), no preview."""
    lines = [f"New inquiry: {text.title}", text.when]
    lines += [f"{label}: {value}" for label, value in text.fields]
    link = f"\n{text.link}"
    return {
        "chat_id": chat_id,
        "text": _cut("\n".join(lines), LIMITS["telegram"] - len(link)) + link,
        "link_preview_options": {"is_disabled": True},
    }


def teams_body(text: ChatText) -> dict[str, Any]:
    """A Teams message with one Adaptive Card (1.4), which both Teams incoming webhooks and
    Workflows ("post to a channel when a webhook request is received") take: the title, the
    time, the values as a fact set, and an "Open in the inbox" button.
    """
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": teams_escape(f"New inquiry: {text.title}"),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        {"type": "TextBlock", "text": text.when, "isSubtle": True, "spacing": "None"},
    ]
    if text.fields:
        facts = [
            {"title": teams_escape(label), "value": _cut(teams_escape(value), 4000)}
            for label, value in text.fields
        ]
        body.append({"type": "FactSet", "facts": facts})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": "Open in the inbox", "url": text.link}],
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def request_of(
    target: ChatTarget, secret: str, text: ChatText, settings: Settings
) -> tuple[str, bytes]:
    """The URL and JSON body of ``target``'s message; ``secret`` is its ``FRONTDESK_CHAT_<NAME>``.
    Raises a permanent :class:`~worker.smtp.DeliveryError` when a Telegram secret is not
    ``<bot token>/<chat id>`` (its text names the variable, never the value).
    """
    if target.format == "telegram":
        match = TELEGRAM_SECRET.fullmatch(secret)
        if match is None:
            variable = f"{CHAT_PREFIX}{target.secret}"
            raise DeliveryError(None, f"{variable} is not <bot token>/<chat id>", permanent=True)
        token, chat_id = match.groups()
        url = f"{settings.telegram_api_url.rstrip('/')}/bot{token}/sendMessage"
        return url, msgspec.json.encode(telegram_body(text, chat_id))
    bodies = {"slack": slack_body, "discord": discord_body, "teams": teams_body}
    return secret, msgspec.json.encode(bodies[target.format](text))


def send(target: ChatTarget, secret: str, text: ChatText, settings: Settings) -> int:
    """Post ``target``'s message; returns the 2xx status. Raises
    :class:`~worker.smtp.DeliveryError` whose text holds neither the URL nor the token.
    """
    url, body = request_of(target, secret, text, settings)
    headers = {"Content-Type": "application/json", "User-Agent": "Frontdesk-Chat"}
    try:
        return post_checked(url, body, headers, settings)
    except DeliveryError as exc:
        raise DeliveryError(
            exc.code, hide(exc.text, secret, url), permanent=exc.permanent
        ) from None


def hide(text: str, *secrets: str) -> str:
    """``text`` with every secret (and a Telegram secret's token) replaced by ``<secret>``."""
    for secret in secrets:
        match = TELEGRAM_SECRET.fullmatch(secret)
        for part in (secret, match.group(1) if match else ""):
            if part:
                text = text.replace(part, "<secret>")
    return text
