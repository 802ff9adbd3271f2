"""ALTCHA, the CAPTCHA with no third party: challenges, solutions accepted once, the widget's file.

Challenges are solved with the ``altcha`` package's own solver, as the widget would solve them.
"""

from __future__ import annotations

import hashlib
import time

import altcha
import msgspec
import pytest
import redis

from frontdesk.submissions.definition import Captcha, FormDefinition, cross_check
from frontdesk.submissions.keys import KEY_PREFIX
from frontdesk.submissions.secret import derive
from services.forms.altcha import ALGORITHM, check_solution, new_challenge
from services.forms.widget import VENDOR, AltchaWidget
from tests.service.forms_helpers import VALID, ClientFactory, form_yaml, make_client

__all__ = ["make_client"]

SECRET = "altcha-service-tests-secret-0123456789"
# Easy work for tests: a handful of one-iteration derivations.
EASY = "spam:\n  captcha: {provider: altcha, cost: 1, max_number: 20, expires_minutes: 5}\n"


def _solve(challenge: dict[str, object]) -> str:
    """The widget's payload for ``challenge`` (the JSON of the challenge endpoint)."""
    parsed = altcha.Challenge.from_dict(challenge)
    solution = altcha.solve_challenge(parsed, timeout=10)
    assert solution is not None
    return altcha.Payload(parsed, solution).to_base64()


def _client(make_client: ClientFactory, **variables: str):  # type: ignore[no-untyped-def]
    return make_client(
        forms={"cap": form_yaml("cap", EASY), "other": form_yaml("other", EASY)},
        secret_key=SECRET,
        **variables,
    )


def _post(client, payload: str | None, email: str = "ann@example.com", key: str | None = None):  # type: ignore[no-untyped-def]
    body = {**VALID, "email": email}
    if payload is not None:
        body["altcha"] = payload
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/v1/forms/cap/submissions", json=body, headers=headers)


def test_challenge_answer_is_signed_uncached_and_readable_anywhere(
    make_client: ClientFactory,
) -> None:
    client = _client(make_client)
    response = client.get("/v1/forms/cap/captcha/challenge")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    parameters = body["parameters"]
    assert parameters["algorithm"] == ALGORITHM == "PBKDF2/SHA-256"
    assert parameters["cost"] == 1
    assert parameters["data"] == {"form": "cap"}
    assert 290 <= parameters["expiresAt"] - time.time() <= 301
    assert len(body["signature"]) == 64
    # Two answers, two challenges.
    assert client.get("/v1/forms/cap/captcha/challenge").json() != body
    # A form without ALTCHA has no challenge; an unknown form is the usual 404.
    plain = client.get("/v1/forms/contact/captcha/challenge")
    assert plain.status_code == 404
    assert plain.json()["code"] == "captcha_not_used"
    assert client.get("/v1/forms/nope/captcha/challenge").status_code == 404


def test_challenges_are_rate_limited_per_client(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = _client(make_client)
    statuses = [client.get("/v1/forms/cap/captcha/challenge").status_code for _ in range(121)]
    assert statuses[:120] == [200] * 120
    assert statuses[120] == 429
    refused = client.get("/v1/forms/cap/captcha/challenge")
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1


def test_public_definition_names_the_challenge_and_the_widget(make_client: ClientFactory) -> None:
    client = _client(make_client, forms_public_url="https://forms.clinic.example")
    captcha = client.get("/v1/forms/cap").json()["captcha"]
    version = AltchaWidget.load().version
    assert captcha == {
        "provider": "altcha",
        "site_key": "",
        "response_field": "altcha",
        "challenge_url": "https://forms.clinic.example/v1/forms/cap/captcha/challenge",
        "script_url": f"https://forms.clinic.example/embed/altcha/{version}/altcha.js",
    }


def test_a_solution_is_accepted_once(make_client: ClientFactory, redis_client: redis.Redis) -> None:
    client = _client(make_client)
    payload = _solve(client.get("/v1/forms/cap/captcha/challenge").json())
    first = _post(client, payload)
    assert first.status_code == 201, first.text
    replay = _post(client, payload, email="bob@example.com")
    assert replay.status_code == 409
    assert replay.json()["code"] == "captcha_spent"
    # The spent mark lives as long as the challenge could be used, no longer.
    [key] = redis_client.keys(f"{KEY_PREFIX}captcha:cap:*")
    assert 290 <= redis_client.ttl(key) <= 302
    assert redis_client.zcard(f"{KEY_PREFIX}form:cap:submissions") == 1


def test_a_retry_of_the_same_post_is_answered_with_the_first_submission(
    make_client: ClientFactory,
) -> None:
    """The embed script retries with the same Idempotency-Key: the spent solution does not turn
    the retry away; the store answers it with the first id."""
    client = _client(make_client)
    payload = _solve(client.get("/v1/forms/cap/captcha/challenge").json())
    first = _post(client, payload, key="retry-1")
    again = _post(client, payload, key="retry-1")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    other_key = _post(client, payload, key="retry-2")
    assert other_key.status_code == 409
    assert other_key.json()["code"] == "captcha_spent"


def test_missing_wrong_forged_and_other_form_solutions_are_refused(
    make_client: ClientFactory, redis_client: redis.Redis
) -> None:
    client = _client(make_client)
    missing = _post(client, None)
    assert missing.status_code == 403
    assert missing.json()["code"] == "captcha_failed"
    for junk in ["", "not base64!", "e30=", "x" * 5000]:
        response = _post(client, junk)
        assert (response.status_code, response.json()["code"]) == (403, "captcha_failed"), junk
    challenge = client.get("/v1/forms/cap/captcha/challenge").json()
    parsed = altcha.Challenge.from_dict(challenge)
    solution = altcha.solve_challenge(parsed, timeout=10)
    assert solution is not None
    wrong = altcha.Solution(solution.counter + 1, solution.derived_key)
    response = _post(client, altcha.Payload(parsed, wrong).to_base64())
    assert (response.status_code, response.json()["code"]) == (403, "captcha_failed")
    # Signed with another key (another deployment, or a forger): refused.
    forged = altcha.create_challenge(
        ALGORITHM,
        1,
        counter=3,
        expires_at=int(time.time()) + 60,
        data={"form": "cap"},
        hmac_secret=b"another key",
    )
    forged_solution = altcha.solve_challenge(forged, timeout=10)
    assert forged_solution is not None
    response = _post(client, altcha.Payload(forged, forged_solution).to_base64())
    assert (response.status_code, response.json()["code"]) == (403, "captcha_failed")
    # A good solution of the other form's challenge.
    elsewhere = _solve(client.get("/v1/forms/other/captcha/challenge").json())
    response = _post(client, elsewhere)
    assert (response.status_code, response.json()["code"]) == (403, "captcha_failed")
    assert redis_client.zcard(f"{KEY_PREFIX}form:cap:submissions") == 0


def test_an_expired_challenge_is_refused(make_client: ClientFactory) -> None:
    client = _client(make_client)
    key = derive(SECRET.encode(), "captcha-challenges")
    captcha = client.app.state.forms.forms["cap"].spam.captcha
    old = new_challenge(key, "cap", captcha, now=time.time() - 301)
    payload = _solve(msgspec.to_builtins(old))
    response = _post(client, payload)
    assert response.status_code == 403
    assert response.json()["code"] == "captcha_expired"


def test_invalid_fields_come_first_and_leave_the_solution_unspent(
    make_client: ClientFactory,
) -> None:
    client = _client(make_client)
    payload = _solve(client.get("/v1/forms/cap/captcha/challenge").json())
    bad = client.post(
        "/v1/forms/cap/submissions", json={**VALID, "email": "ann@", "altcha": payload}
    )
    assert bad.status_code == 422
    assert _post(client, payload).status_code == 201


def test_the_key_is_the_captcha_purpose_key() -> None:
    key = derive(SECRET.encode(), "captcha-challenges")
    challenge = new_challenge(key, "cap", Captcha(provider="altcha", cost=1, max_number=5))
    payload = _solve(msgspec.to_builtins(challenge))
    assert check_solution(key, "cap", payload)[0] == "passed"
    assert check_solution(derive(SECRET.encode(), "time-trap"), "cap", payload)[0] == "failed"


def test_the_widget_is_served_with_strong_caching(make_client: ClientFactory) -> None:
    client = _client(make_client)
    widget = AltchaWidget.load()
    url = f"/embed/altcha/{widget.version}/altcha.js"
    response = client.get(url, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == (VENDOR / "altcha.umd.min.cjs").read_bytes()
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["access-control-allow-origin"] == "*"
    again = client.get(
        url, headers={"If-None-Match": response.headers["etag"], "Accept-Encoding": "identity"}
    )
    assert again.status_code == 304
    assert client.get("/embed/altcha/0.0.1/altcha.js").status_code == 404


@pytest.mark.parametrize(
    ("captcha", "problem"),
    [
        ("{provider: altcha, site_key: k}", "altcha has no site key"),
        ("{provider: turnstile}", "turnstile needs the site key"),
    ],
)
def test_forms_check_refuses_site_key_mistakes(captcha: str, problem: str) -> None:
    form = msgspec.yaml.decode(
        form_yaml("cap", f"spam:\n  captcha: {captcha}\n"), type=FormDefinition
    )
    assert any(problem in line for line in cross_check(form))


def test_vendored_widget_matches_its_sums() -> None:
    sums = dict(
        reversed(line.split(maxsplit=1))
        for line in (VENDOR / "SHA256SUMS").read_text().splitlines()
    )
    assert set(sums) == {p.name for p in VENDOR.iterdir()} - {"SHA256SUMS", "SOURCE"}
    for name, digest in sums.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    source = (VENDOR / "SOURCE").read_text()
    assert source.startswith(f"npm package: altcha@{AltchaWidget.load().version} (licence MIT)")
    # The widget's major version speaks the proof of work of the Python package (PoW v2).
    assert AltchaWidget.load().version.startswith("3.")
