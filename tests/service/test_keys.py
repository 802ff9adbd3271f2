"""One master key, one purpose per derived key: the time trap and webhooks share no key, a webhook
receiver cannot mint time-trap tokens, and tokens signed before the upgrade count as missing.
Real Redis, a real webhook receiver and a real relay."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator

import pytest
import redis

from frontdesk.cli import main
from frontdesk.submissions.record import Submission
from services.forms.timetrap import issue_token
from tests.conftest import CLINIC_SITE
from tests.relay import Relay, running
from tests.service.forms_helpers import URL, VALID, ClientFactory, make_client
from tests.service.test_worker_messages import run_jobs, stored
from tests.service.test_worker_webhooks import Receiver, receiver

__all__ = ["make_client", "receiver"]

MASTER = "a-master-key-of-forty-characters-000000"


@pytest.fixture
def hooked(
    make_client: ClientFactory, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ClientFactory]:
    contact = (CLINIC_SITE / "forms" / "contact.yaml").read_text()
    forms = {"contact": contact + f"\nwebhook:\n  url: {receiver[1]}\n"}
    for name, value in {
        "RATE_LIMITS": "off",
        "WEBHOOK_ALLOW_HTTP": "on",
        "WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    }.items():
        monkeypatch.setenv(f"FRONTDESK_{name}", value)
    with running(Relay()) as port:
        monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
        yield lambda **variables: make_client(forms=forms, **variables)


def _submit(client: object, **values: str) -> Submission:
    response = client.post(URL, json={**VALID, **values})  # type: ignore[attr-defined]
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


def test_one_generated_key_serves_the_time_trap_and_webhooks(
    hooked: ClientFactory, receiver: tuple[Receiver, str], redis_client: redis.Redis
) -> None:
    client = hooked()
    assert client.get("/v1/forms/contact").json()["token"]
    _submit(client)
    run_jobs(redis_client)
    assert len(receiver[0].requests) == 1
    assert redis_client.keys("frontdesk:secret*") == [b"frontdesk:secret_key"]


def test_a_webhook_receiver_cannot_mint_time_trap_tokens(
    hooked: ClientFactory,
    receiver: tuple[Receiver, str],
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = hooked(secret_key=MASTER)
    submission_id = _submit(client)
    run_jobs(redis_client)
    # The receiver's key, as ops print it for them.
    assert main(["keys", "webhook"]) == 0
    key = capsys.readouterr().out.strip().encode()
    [(headers, body)] = receiver[0].requests
    stamp, _, digest = headers["Frontdesk-Signature"].removeprefix("t=").partition(",v1=")
    expected = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(digest, expected)
    assert stored(redis_client, submission_id).status == "notified"

    minted = issue_token(key, "contact", time.time() - 60)
    record = stored(redis_client, _submit(client, email="m@example.com", _token=minted))
    assert record.quarantine_reason == "token_forged"


def test_a_token_signed_before_the_upgrade_counts_as_missing(
    hooked: ClientFactory, redis_client: redis.Redis
) -> None:
    """Before, the time trap signed with the master key itself: a form page opened before the
    upgrade is posted after it without a quarantine, flagged ``no_token``; a token signed with the
    old key after the upgrade is forged."""
    client = hooked(secret_key=MASTER)
    assert client.get("/v1/forms/contact").status_code == 200
    before = issue_token(MASTER.encode(), "contact", time.time() - 60)
    record = stored(redis_client, _submit(client, _token=before))
    assert record.status == "received"
    assert "no_token" in record.flags

    time.sleep(0.01)
    after = issue_token(MASTER.encode(), "contact", time.time())
    record = stored(redis_client, _submit(client, email="late@example.com", _token=after))
    assert record.quarantine_reason == "token_forged"
