"""Chat messages (Slack, Teams, Discord, Telegram) against a real HTTP server on an ephemeral port
and real Redis (in-process SimpleWorker): each format's body, summary by default, escaped values
for a full target, retries with delivery state, an unset secret, and no secret in any log line
or Redis key."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
from litestar.testing import TestClient
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from frontdesk.cli import main as cli_main
from frontdesk.settings import load_settings
from frontdesk.submissions.erasure import erase_submissions
from frontdesk.submissions.keys import job_key
from services.inbox.app import create_app as create_inbox_app
from tests.conftest import CLINIC_SITE
from tests.relay import Relay, running
from tests.service.test_worker_messages import run_jobs, stored, submit, visitor

TOKEN = "123456789:AAHsecretBotTokenDoNotLog_0123456789abcdef"
CHAT_ID = "-1001234567890"
# A canary for the summary: no chat message may carry a visitor's value.
CANARY = "CANARY-d41d8cd98f"
HOSTILE = "<!channel> @everyone <@123> </script> [x](https://evil.example) **b** {{DATE(x)}}"
STAFF_TOKEN = "t0ken-chat-" + "c" * 32


class Receiver:
    """Records each POST (path, headers, body) and answers the next scripted status (then 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses: list[int] = []

    def body(self, path_part: str) -> dict[str, object]:
        [body] = [json.loads(b) for p, _, b in self.requests if path_part in p]
        assert isinstance(body, dict)
        return body


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests.append((self.path, dict(self.headers.items()), body))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


TARGETS = """
notify_chat:
  - {format: slack, secret: CLINIC_SLACK}
  - {format: teams, secret: CLINIC_TEAMS}
  - {format: discord, secret: CLINIC_DISCORD}
  - {format: telegram, secret: CLINIC_TG}
"""


def _site(tmp_path: Path, extra: str) -> Path:
    site = tmp_path / "site"
    shutil.copytree(CLINIC_SITE, site)
    form = site / "forms" / "contact.yaml"
    form.write_text(form.read_text() + extra)
    return site


@pytest.fixture
def chat_env(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
    receiver: tuple[Receiver, str],
) -> Iterator[Receiver]:
    """Ops' side: the four secrets pointing at the receiver, which ops allow (loopback, http)."""
    base = receiver[1]
    monkeypatch.setenv("FRONTDESK_CHAT_CLINIC_SLACK", f"{base}/slack/T000/B000/XXXX")
    monkeypatch.setenv("FRONTDESK_CHAT_CLINIC_TEAMS", f"{base}/teams/workflows/abc?sig=s3cr3t")
    monkeypatch.setenv("FRONTDESK_CHAT_CLINIC_DISCORD", f"{base}/discord/api/webhooks/1/tok")
    monkeypatch.setenv("FRONTDESK_CHAT_CLINIC_TG", f"{TOKEN}/{CHAT_ID}")
    monkeypatch.setenv("FRONTDESK_TELEGRAM_API_URL", f"{base}/telegram")
    monkeypatch.setenv("FRONTDESK_INBOX_URL", "https://inbox.clinic.example")
    monkeypatch.setenv("FRONTDESK_RATE_LIMITS", "off")
    monkeypatch.setenv("FRONTDESK_WEBHOOK_ALLOW_HTTP", "on")
    monkeypatch.setenv("FRONTDESK_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("FRONTDESK_SMTP_TIMEOUT", "3")
    with running(Relay()) as port:
        monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
        yield receiver[0]


def _use(monkeypatch: pytest.MonkeyPatch, site: Path) -> None:
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(site))


def _texts(receiver: Receiver) -> dict[str, str]:
    """Each format's message text as the receiver got it."""
    slack = receiver.body("/slack/")
    teams = receiver.body("/teams/")
    discord = receiver.body("/discord/")
    telegram = receiver.body("/telegram/")
    attachments = teams["attachments"]
    assert isinstance(attachments, list)
    return {
        "slack": str(slack["text"]),
        "teams": json.dumps(attachments[0]["content"]),
        "discord": str(discord["content"]),
        "telegram": str(telegram["text"]),
    }


def test_each_format_gets_a_summary_without_values(
    chat_env: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_client: redis.Redis
) -> None:
    # notify is not written (the staff email's default is full): chat still gets a summary,
    # even for a target that asks for full.
    extra = TARGETS.replace("secret: CLINIC_SLACK}", "secret: CLINIC_SLACK, full: true}")
    _use(monkeypatch, _site(tmp_path, extra))
    submission_id = submit(visitor(name=CANARY, message=f"{CANARY} knee", email="c@example.com"))
    run_jobs(redis_client)

    assert len(chat_env.requests) == 4
    link = f"https://inbox.clinic.example/inquiries/{submission_id}"
    for format_, text in _texts(chat_env).items():
        assert "Get In Touch" in text, format_
        assert link in text, format_
        for value in (CANARY, "c@example.com", "2671"):
            assert value not in text, format_

    slack = chat_env.body("/slack/")
    assert slack["unfurl_links"] is False
    assert slack["text"].startswith("*New inquiry")
    discord = chat_env.body("/discord/")
    assert discord["allowed_mentions"] == {"parse": []}
    assert discord["flags"] == 4  # SUPPRESS_EMBEDS: no preview of a URL
    telegram_path = next(p for p, _, _ in chat_env.requests if p.startswith("/telegram/"))
    assert telegram_path == f"/telegram/bot{TOKEN}/sendMessage"
    telegram = chat_env.body("/telegram/")
    assert telegram["chat_id"] == CHAT_ID
    assert "parse_mode" not in telegram
    assert telegram["link_preview_options"] == {"is_disabled": True}
    teams = chat_env.body("/teams/")
    [attachment] = teams["attachments"]  # type: ignore[misc]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open in the inbox", "url": link}
    ]
    for _, headers, _ in chat_env.requests:
        assert headers["Content-Type"] == "application/json"

    record = stored(redis_client, submission_id)
    for kind in ("chat_1", "chat_2", "chat_3", "chat_4"):
        state = record.message(kind)  # type: ignore[arg-type]
        assert state is not None
        assert (state.status, state.attempts, state.message_id) == (
            "sent",
            1,
            f"{submission_id}.{kind}",
        )


def test_a_full_target_gets_escaped_values(
    chat_env: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_client: redis.Redis
) -> None:
    extra = "\nnotify: full\n" + TARGETS.replace("}", ", full: true}")
    _use(monkeypatch, _site(tmp_path, extra))
    submit(visitor(message=HOSTILE))
    run_jobs(redis_client)

    texts = _texts(chat_env)
    for text in texts.values():
        assert "Zo" in text  # the name: values are there
    slack = texts["slack"]
    assert "&lt;!channel&gt;" in slack
    assert "<!channel>" not in slack
    assert "<@123>" not in slack
    assert "&lt;/script&gt;" in slack
    discord = texts["discord"]
    assert "\\@everyone" in discord
    assert "\\<\\@123\\>" in discord
    assert "\\[x\\]\\(https\\:" in discord
    assert "\\*\\*b\\*\\*" in discord
    assert chat_env.body("/discord/")["allowed_mentions"] == {"parse": []}
    teams_card = json.loads(texts["teams"])
    facts = {f["title"]: f["value"] for f in teams_card["body"][2]["facts"]}
    assert "\\[x\\]\\(https://evil.example\\)" in facts["Message"]
    assert "{{" not in facts["Message"]
    assert "\\*\\*b\\*\\*" in facts["Message"]
    # Telegram: plain text (no parse_mode), so the text stays as typed and means nothing.
    assert HOSTILE in texts["telegram"]
    assert "parse_mode" not in chat_env.body("/telegram/")


def test_retries_on_500_then_delivers(
    chat_env: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_client: redis.Redis
) -> None:
    _use(monkeypatch, _site(tmp_path, "\nnotify_chat: [{format: slack, secret: CLINIC_SLACK}]\n"))
    chat_env.statuses += [500]
    submission_id = submit(visitor())
    run_jobs(redis_client)
    state = stored(redis_client, submission_id).message("chat_1")
    assert state is not None
    assert (state.status, state.attempts) == ("queued", 1)
    assert state.last_error is not None
    assert state.last_error.code == 500
    queue = Queue("frontdesk", connection=redis_client, serializer=JSONSerializer)
    registry = ScheduledJobRegistry(queue=queue)
    assert registry.get_job_ids() == [f"{submission_id}-chat_1"]

    # The retry falls due (moved to the queue as RQ's scheduler would), and is delivered.
    job = Job.fetch(f"{submission_id}-chat_1", connection=redis_client, serializer=JSONSerializer)
    registry.remove(job)
    queue.enqueue_job(job)
    run_jobs(redis_client)
    state = stored(redis_client, submission_id).message("chat_1")
    assert state is not None
    assert (state.status, state.attempts) == ("sent", 2)
    assert len(chat_env.requests) == 2


def test_an_unset_secret_is_reported_and_its_message_skipped(
    chat_env: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site = _site(tmp_path, "\nnotify_chat: [{format: slack, secret: NOT_SET_BY_OPS}]\n")
    _use(monkeypatch, site)
    assert cli_main(["forms", "check", str(site)]) == 1
    out = capsys.readouterr().out
    assert (
        "forms/contact.yaml: $.notify_chat[0].secret: FRONTDESK_CHAT_NOT_SET_BY_OPS is not set"
        in out
    )

    submission_id = submit(visitor())
    run_jobs(redis_client)
    record = stored(redis_client, submission_id)
    state = record.message("chat_1")
    assert state is not None
    assert state.status == "skipped"
    assert state.skip_reason == "secret_unset: FRONTDESK_CHAT_NOT_SET_BY_OPS is not set"
    assert record.status == "notified"  # the staff email went out
    assert chat_env.requests == []


def _redis_text(connection: redis.Redis) -> bytes:
    """Every key and value in the test db, as one blob."""
    found = b""
    for key in connection.scan_iter():
        kind = connection.type(key)
        found += key
        if kind == b"string":
            found += connection.get(key) or b""
        elif kind == b"hash":
            found += b"".join(k + v for k, v in connection.hgetall(key).items())
        elif kind == b"list":
            found += b"".join(connection.lrange(key, 0, -1))
        elif kind == b"zset":
            found += b"".join(connection.zrange(key, 0, -1))
        elif kind == b"set":
            found += b"".join(connection.smembers(key))
    return found


def test_no_secret_in_any_log_line_or_redis(
    chat_env: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _use(monkeypatch, _site(tmp_path, TARGETS))
    caplog.set_level(logging.DEBUG)
    # Failures too: their texts are stored and logged.
    chat_env.statuses += [503, 503, 404, 401]
    submit(visitor())
    run_jobs(redis_client)
    chat_env.statuses += [500]
    submit(visitor(email="two@example.com"))
    run_jobs(redis_client)
    assert len(chat_env.requests) == 8

    secrets = [TOKEN, "T000/B000/XXXX", "s3cr3t", "webhooks/1/tok", "AAHsecretBotToken"]
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    assert "chat_1" in logged  # the worker did log its messages
    stored_text = _redis_text(redis_client)
    for secret in secrets:
        assert secret not in logged
        assert secret.encode() not in stored_text


def test_erasure_deletes_chat_jobs_and_staff_api_resends_one(
    chat_env: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_client: redis.Redis
) -> None:
    _use(monkeypatch, _site(tmp_path, TARGETS))
    monkeypatch.setenv("FRONTDESK_STAFF_TOKENS", f"ops:{STAFF_TOKEN}")
    submission_id = submit(visitor())
    run_jobs(redis_client)
    staff = {"authorization": f"Bearer {STAFF_TOKEN}"}
    with TestClient(create_inbox_app(load_settings())) as client:
        url = f"/v1/submissions/{submission_id}/resend"
        answer = client.post(url, params={"kind": "chat_2"}, headers=staff)
        assert answer.status_code == 200, answer.text
        assert [m["status"] for m in answer.json()["messages"] if m["kind"] == "chat_2"] == [
            "queued"
        ]
        assert redis_client.exists(job_key(f"{submission_id}-chat_2"))
        # A kind the form does not define is refused.
        assert client.post(url, params={"kind": "webhook"}, headers=staff).status_code == 409
    run_jobs(redis_client)
    assert len([p for p, _, _ in chat_env.requests if p.startswith("/teams/")]) == 2

    chat_env.statuses += [500]
    second = submit(visitor(email="again@example.com"))
    run_jobs(redis_client)  # chat_1 failed once: its job waits for the retry
    assert redis_client.exists(job_key(f"{second}-chat_1"))
    erase_submissions(redis_client, "frontdesk", [stored(redis_client, second)])
    for kind in ("chat_1", "chat_2", "chat_3", "chat_4"):
        assert not redis_client.exists(job_key(f"{second}-{kind}"))


@pytest.mark.parametrize(
    ("allowed", "slack_url", "named"),
    [
        ("", "{base}/slack/T000/B000/XXXX", "FRONTDESK_WEBHOOK_ALLOW_NETWORKS"),
        ("127.0.0.0/8", "http://169.254.169.254/slack/T000/B000/XXXX", "link-local"),
        ("127.0.0.0/8", "http://[XXXX/slack/T000/B000/XXXX", "not a URL"),
    ],
    ids=["loopback-not-allowed", "metadata-service", "unparsable-url"],
)
def test_a_chat_secret_ops_do_not_allow_fails_once_without_its_url(
    chat_env: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_client: redis.Redis,
    receiver: tuple[Receiver, str],
    allowed: str,
    slack_url: str,
    named: str,
) -> None:
    """The chat URL is ops' secret, and still judged by ops' network rules at every attempt:
    loopback without FRONTDESK_WEBHOOK_ALLOW_NETWORKS, the cloud metadata address, and a URL that
    does not parse each fail the message at once (no retry), nothing is sent, and the stored
    error names the rule, never the URL."""
    monkeypatch.setenv("FRONTDESK_WEBHOOK_ALLOW_NETWORKS", allowed)
    monkeypatch.setenv("FRONTDESK_CHAT_CLINIC_SLACK", slack_url.format(base=receiver[1]))
    _use(monkeypatch, _site(tmp_path, "\nnotify_chat: [{format: slack, secret: CLINIC_SLACK}]\n"))
    submission_id = submit(visitor())
    run_jobs(redis_client)
    state = stored(redis_client, submission_id).message("chat_1")
    assert state is not None
    assert (state.status, state.attempts) == ("failed", 1)
    assert state.last_error is not None
    assert named in state.last_error.text
    assert "XXXX" not in state.last_error.text
    assert chat_env.requests == []
    assert b"T000/B000/XXXX" not in _redis_text(redis_client)
