"""Chat targets: what `forms check` says about them, and how ops' secrets are read and kept."""

import shutil
from pathlib import Path

import msgspec
import pytest

from frontdesk.cli import main
from frontdesk.settings import SettingsError, chat_secret, load_settings
from frontdesk.submissions.definition import FormDefinition, secrets_written
from tests.conftest import CLINIC_SITE

FORM = """
id: contact
title: T
fields:
  - {{name: name, label: Name}}
recipients: [staff@clinic.example]
sender: "Clinic <no-reply@clinic.example>"
{extra}
"""
SLACK_URL = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"
TG_TOKEN = "123456789:AAHsecretBotTokenDoNotLog_0123456789abcdef"


def _check(tmp_path: Path, extra: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    site = tmp_path / f"site{len(list(tmp_path.iterdir()))}"
    shutil.copytree(CLINIC_SITE, site)
    (site / "forms" / "callback.yaml").unlink()
    (site / "forms" / "contact.yaml").write_text(FORM.format(extra=extra))
    code = main(["forms", "check", str(site)])
    return code, capsys.readouterr().out


@pytest.mark.parametrize(
    "extra",
    [
        f"notify_chat: [{{format: slack, secret: '{SLACK_URL}'}}]",
        f"notify_chat: [{{format: telegram, secret: '{TG_TOKEN}'}}]",
        f"# pasted for later: {SLACK_URL}",
        "notify_chat: [{format: discord, secret: 'https://discord.com/api/webhooks/1/abc'}]",
        "notify_chat: [{format: teams, secret: 'https://x.webhook.office.com/webhookb2/abc'}]",
        # Discord's versioned API path takes webhooks as well (discord.com/api/v10/webhooks/...).
        "notify_chat: [{format: discord, secret: 'https://discord.com/api/v10/webhooks/1/abc'}]",
        # A YAML escape hides the shape from the file's text but not from the value it decodes to.
        'webhook: {url: "https://hooks\\x2eslack.com/services/T0000/B0000/XXXXXXXX"}',
        'messages: {success: "Ping \\x31\\x323456789:AAHsecretBotTokenDoNotLog_0123456789abcdef"}',
    ],
    ids=[
        "slack-url",
        "telegram-token",
        "anywhere-in-the-file",
        "discord-url",
        "teams-url",
        "discord-versioned-url",
        "yaml-escaped-url",
        "yaml-escaped-token",
    ],
)
def test_a_url_or_token_in_the_form_file_is_refused(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str
) -> None:
    code, out = _check(tmp_path, extra, capsys)
    assert code == 1
    assert "looks like a chat webhook URL or bot token" in out
    # The problem never repeats the secret (the check's output may land in a CI log).
    assert "XXXXXXXX" not in out
    assert "AAHsecret" not in out
    assert "webhookb2" not in out


def test_a_secret_that_is_not_a_name_is_refused_without_echo(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _check(
        tmp_path, "notify_chat: [{format: slack, secret: 'https://chat.example/x1'}]", capsys
    )
    assert code == 1
    assert "$.notify_chat[0].secret: the name of an ops secret" in out
    assert "chat.example/x1" not in out


def test_set_secrets_pass_and_bad_values_are_named_not_shown(
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = "notify_chat: [{format: slack, secret: CLINIC_SLACK}, {format: telegram, secret: TG}]"
    monkeypatch.setenv("FRONTDESK_CHAT_CLINIC_SLACK", SLACK_URL)
    monkeypatch.setenv("FRONTDESK_CHAT_TG", f"{TG_TOKEN}/-100123")
    assert _check(tmp_path, extra, capsys) == (0, "ok: 1 form(s): contact\n")
    monkeypatch.setenv("FRONTDESK_CHAT_TG", TG_TOKEN)  # no chat id
    code, out = _check(tmp_path, extra, capsys)
    assert code == 1
    assert "$.notify_chat[1].secret: FRONTDESK_CHAT_TG is not <bot token>/<chat id>" in out
    assert "AAHsecret" not in out


def test_more_than_four_targets_are_refused() -> None:
    targets = [{"format": "slack", "secret": f"S{i}"} for i in range(5)]
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(
            {
                "id": "x",
                "title": "T",
                "fields": [],
                "recipients": [],
                "sender": "a@b.c",
                "notify_chat": targets,
            },
            FormDefinition,
        )


def test_chat_full_needs_notify_full_written_and_the_target_asking() -> None:
    base = {"id": "x", "title": "T", "fields": [], "recipients": [], "sender": "a@b.c"}
    target = {"format": "slack", "secret": "S", "full": True}

    unwritten = msgspec.convert({**base, "notify_chat": [target]}, FormDefinition)
    assert not unwritten.chat_full(unwritten.notify_chat[0])
    written = msgspec.convert({**base, "notify": "full", "notify_chat": [target]}, FormDefinition)
    assert written.chat_full(written.notify_chat[0])
    assert written.message_kinds() == ["staff", "chat_1"]
    summary = msgspec.convert(
        {**base, "notify": "full", "notify_chat": [{**target, "full": False}]}, FormDefinition
    )
    assert not summary.chat_full(summary.notify_chat[0])


def test_chat_secrets_are_read_by_prefix_and_never_shown() -> None:
    settings = load_settings(
        {"FRONTDESK_CHAT_CLINIC_SLACK": SLACK_URL, "FRONTDESK_CHAT_EMPTY": " "}
    )
    secret = chat_secret(settings, "CLINIC_SLACK")
    assert secret is not None
    assert secret.reveal() == SLACK_URL
    assert chat_secret(settings, "EMPTY") is None
    assert "XXXXXXXX" not in repr(settings)
    assert "XXXXXXXX" not in str(settings.chat_secrets)
    assert "XXXXXXXX" not in f"{secret}"
    with pytest.raises(SettingsError) as caught:
        load_settings({"FRONTDESK_CHAT_clinic": SLACK_URL})
    assert "FRONTDESK_CHAT_clinic" in str(caught.value)
    assert "XXXXXXXX" not in str(caught.value)


def test_secrets_written_spots_shapes_only() -> None:
    assert secrets_written("title: Slack us at hooks.slack.com/services/T/B/X")
    assert not secrets_written("title: Call 123456 for help: we answer")
