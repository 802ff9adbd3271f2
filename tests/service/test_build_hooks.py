"""Build hooks through the content app (file watching on, real Redis) and RQ jobs run by a real
worker class against a real HTTP receiver on an ephemeral port.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
import redis
from litestar.testing import TestClient
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from frontdesk.cli import main
from frontdesk.networks import url_refusal
from frontdesk.settings import Settings, load_settings
from frontdesk.submissions.buildhooks import deliveries
from frontdesk.submissions.keys import BUILD_HOOKS_ANNOUNCED
from frontdesk.submissions.secret import derive
from services.content.app import create_app
from services.content.holder import SiteHolder
from tests.content.conftest import eventually
from tests.content.sites import write_files
from tests.hooks_receiver import Receiver, receiving, verify

SECRET = "build-hooks-test-master-key-0123456789abcdef"
QUEUE = "rq:queue:frontdesk"
SCHEDULED = "rq:scheduled:frontdesk"
Clients = Callable[..., TestClient]  # type: ignore[type-arg]


def with_hooks(site: Path, *urls: tuple[str, str]) -> None:
    """Append ``build_hooks`` (name, url) to ``site``'s site.yaml."""
    config = site / "site.yaml"
    hooks = "".join(f"  - {{name: {name}, url: '{url}'}}\n" for name, url in urls)
    config.write_text(config.read_text() + "build_hooks:\n" + hooks)


def edit_home(site: Path, title: str) -> None:
    page = site / "pages" / "home.yaml"
    page.write_text(page.read_text().replace("title: Home", f"title: {title}", 1))


def run_jobs(connection: redis.Redis) -> None:
    queue = Queue("frontdesk", connection=connection, serializer=JSONSerializer)
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)


@pytest.fixture
def hook(env: dict[str, str]) -> Iterator[tuple[Receiver, str]]:
    with receiving() as server:
        yield server


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: tuple[Receiver, str]) -> Path:
    """A small site whose build hook ``netlify`` is the receiver; the worker's settings (read
    from the environment) allow the receiver's loopback HTTP as ops would for an in-cluster one.
    """
    root = write_files(tmp_path / "site", {})
    with_hooks(root, ("netlify", hook[1]))
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(root))
    monkeypatch.setenv("FRONTDESK_SECRET_KEY", SECRET)
    monkeypatch.setenv("FRONTDESK_WEBHOOK_ALLOW_HTTP", "on")
    monkeypatch.setenv("FRONTDESK_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8")
    return root


@pytest.fixture
def clients(site: Path, redis_client: redis.Redis) -> Iterator[Clients]:
    """``clients(**settings)``: a started content app over ``site`` (watching its files); each
    call is another replica on the same Redis.
    """
    started: list[TestClient] = []  # type: ignore[type-arg]

    def make(holder: SiteHolder | None = None, **changes: object) -> TestClient:  # type: ignore[type-arg]
        values: dict[str, object] = {"content_reload_debounce": 0.05, **changes}
        settings = msgspec.structs.replace(load_settings(), **values)
        client = TestClient(create_app(settings, holder))
        client.__enter__()
        started.append(client)
        # The first build is the baseline: recorded, not announced.
        eventually(lambda: holder_of(client).announces >= 1)
        return client

    yield make
    for client in started:
        client.__exit__(None, None, None)


def holder_of(client: TestClient) -> SiteHolder:  # type: ignore[type-arg]
    holder = client.app.state["holder"]
    assert isinstance(holder, SiteHolder)
    return holder


def reloaded(client: TestClient, count: int) -> Callable[[], bool]:  # type: ignore[type-arg]
    """Whether ``client``'s content app has loaded ``count`` times and announced each build."""
    holder = holder_of(client)
    return lambda: holder.loads >= count and holder.announces >= count


def build_key() -> str:
    return derive(SECRET.encode(), "build-hooks").hex()


def test_a_reload_that_changes_a_page_sends_one_signed_hook_naming_it(
    clients: Clients,
    site: Path,
    hook: tuple[Receiver, str],
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = clients()
    assert redis_client.llen(QUEUE) == 0
    assert redis_client.get(BUILD_HOOKS_ANNOUNCED) is not None

    edit_home(site, "Welcome home")
    eventually(reloaded(client, 2))
    assert redis_client.llen(QUEUE) == 1
    run_jobs(redis_client)

    [(path, headers, body)] = hook[0].wait()
    assert path == "/build"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Frontdesk-Build-Hook"
    assert headers["Frontdesk-Event"] == "build"
    # The documented recipe verifies it with the build-hooks key, and not with the webhooks key.
    assert verify(build_key(), headers["Frontdesk-Signature"], body)
    webhook_key = derive(SECRET.encode(), "webhooks").hex()
    assert not verify(webhook_key, headers["Frontdesk-Signature"], body)
    assert not verify(build_key(), headers["Frontdesk-Signature"], body + b" ")

    payload = json.loads(body)
    assert headers["Frontdesk-Delivery"] == f"{payload['id']}.netlify"
    assert payload["pages"] == {"added": [], "changed": ["home"], "removed": []}
    assert payload["collections"] == {"added": [], "changed": [], "removed": []}
    routes = client.get("/v1/routes").json()["items"]
    assert payload["etags"] == {r["path"]: r["etag"] for r in routes}
    identity = {"accept-encoding": "identity"}
    served = client.get("/v1/pages/home", headers=identity).headers["etag"]
    assert payload["etags"]["/v1/pages/home"] == served
    assert "/v1/pages" in payload["other"]  # the page list carries the title too
    assert dt.datetime.fromisoformat(payload["at"]).tzinfo is not None

    [entry] = deliveries(redis_client, "netlify")
    assert (entry.change, entry.attempt, entry.status, entry.outcome) == (
        payload["id"],
        1,
        204,
        "delivered",
    )
    assert main(["hooks", "log"]) == 0
    out = capsys.readouterr().out
    assert f"netlify {entry.at} change={payload['id']} attempt=1 status=204 delivered" in out
    assert hook[1] not in out
    assert "/build" not in out


def test_items_added_and_removed_are_named_by_collection(
    clients: Clients, site: Path, hook: tuple[Receiver, str], redis_client: redis.Redis
) -> None:
    client = clients()
    (site / "collections" / "faqs" / "cost.yaml").unlink()
    (site / "collections" / "faqs" / "parking.yaml").write_text(
        "question: Where do I park?\nanswer: Behind the building.\n"
    )
    eventually(lambda: "parking" in client.get("/v1/collections/faqs/items").text)
    eventually(lambda: redis_client.llen(QUEUE) >= 1)
    holder = holder_of(client)
    done = "/v1/collections/faqs/items/parking", "/v1/collections/faqs/items/cost"
    eventually(lambda: done[0] in (holder.announced or {}) and done[1] not in holder.announced)
    run_jobs(redis_client)
    bodies = [json.loads(body) for _, _, body in hook[0].wait()]
    items: dict[str, dict[str, list[str]]] = {}
    for body in bodies:  # the watcher may have seen the removal and the addition apart
        for name, change in body["items"].items():
            for kind, slugs in change.items():
                items.setdefault(name, {}).setdefault(kind, []).extend(slugs)
    assert sorted(items["faqs"].get("added", [])) == ["parking"]
    assert sorted(items["faqs"].get("removed", [])) == ["cost"]
    assert all("faqs" in b["collections"]["changed"] for b in bodies)
    assert all(b["pages"]["changed"] == [] for b in bodies)


def test_two_replicas_on_one_redis_send_one_hook(
    clients: Clients, site: Path, hook: tuple[Receiver, str], redis_client: redis.Redis
) -> None:
    first, second = clients(), clients()
    edit_home(site, "Welcome twice")
    eventually(reloaded(first, 2))
    eventually(reloaded(second, 2))
    assert holder_of(first).announced == holder_of(second).announced
    assert redis_client.llen(QUEUE) == 1
    run_jobs(redis_client)
    [(_, _, body)] = hook[0].wait()
    assert json.loads(body)["pages"]["changed"] == ["home"]


def test_an_unchanged_reload_sends_nothing(
    clients: Clients, site: Path, hook: tuple[Receiver, str], redis_client: redis.Redis
) -> None:
    client = clients()
    # A file the content does not read: the watcher reloads, every ETag stays.
    (site / "README.txt").write_text("notes for editors\n")
    eventually(reloaded(client, 2))
    # A new replica starting on the same files finds them announced already.
    clients()
    run_jobs(redis_client)
    assert redis_client.llen(QUEUE) == 0
    assert hook[0].requests == []


def test_a_scheduled_publish_fires_without_a_request(
    clients: Clients, site: Path, hook: tuple[Receiver, str], redis_client: redis.Redis
) -> None:
    now = [dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)]
    when = now[0] + dt.timedelta(hours=1)
    (site / "pages" / "soon.yaml").write_text(
        f"slug: soon\ntitle: Soon\npublish_at: {when.isoformat()}\nsections: []\n"
    )
    settings = msgspec.structs.replace(
        load_settings(), content_watch=False, content_publish_check=0.05
    )
    holder = SiteHolder(settings, clock=lambda: now[0])
    client = clients(holder, content_watch=False, content_publish_check=0.05)
    assert client.get("/v1/pages/soon").status_code == 404
    loads, announces = holder.loads, holder.announces

    # The wall clock steps past publish_at; no request, no file change, no timer wake-up: the
    # periodic check (FRONTDESK_CONTENT_PUBLISH_CHECK) notices.
    now[0] = when + dt.timedelta(seconds=1)
    eventually(lambda: redis_client.llen(QUEUE) == 1, timeout=5)
    assert holder.loads == loads
    assert holder.announces > announces
    run_jobs(redis_client)
    [(_, _, body)] = hook[0].wait()
    payload = json.loads(body)
    assert payload["pages"]["added"] == ["soon"]
    assert client.get("/v1/pages/soon").status_code == 200


def test_a_500_is_retried_on_the_schedule_then_delivered_and_logged(
    clients: Clients, site: Path, hook: tuple[Receiver, str], redis_client: redis.Redis
) -> None:
    client = clients()
    hook[0].statuses += [500]
    edit_home(site, "Retry me")
    eventually(reloaded(client, 2))
    before = int(dt.datetime.now(dt.UTC).timestamp())
    run_jobs(redis_client)
    [job_id] = redis_client.zrange(SCHEDULED, 0, -1)
    [(due, score)] = redis_client.zrange(SCHEDULED, 0, -1, withscores=True)
    # FRONTDESK_RETRY_BASE_SECONDS=1 (the test environment): the first retry one second on.
    assert before + 1 <= score <= before + 3
    [failed] = deliveries(redis_client, "netlify")
    assert (failed.attempt, failed.status, failed.outcome) == (1, 500, "retrying")

    # What the scheduler does when the retry is due.
    queue = Queue("frontdesk", connection=redis_client, serializer=JSONSerializer)
    queue.scheduled_job_registry.requeue(job_id.decode())
    run_jobs(redis_client)

    first, second = hook[0].wait(2)
    assert first[1]["Frontdesk-Delivery"] == second[1]["Frontdesk-Delivery"]
    assert first[2] == second[2]
    assert verify(build_key(), second[1]["Frontdesk-Signature"], second[2])
    delivered, retried = deliveries(redis_client, "netlify")
    assert (delivered.attempt, delivered.status, delivered.outcome) == (2, 204, "delivered")
    assert retried == failed
    assert due == job_id


@pytest.mark.parametrize(
    ("url", "allow_http", "networks", "refused"),
    [
        ("https://api.netlify.com/build_hooks/abc", False, (), False),
        ("http://api.netlify.com/build_hooks/abc", False, (), True),
        ("https://127.0.0.1/x", False, (), True),
        ("https://localhost/x", False, (), True),
        ("https://localhost./x", False, (), True),
        ("https://hooks.localhost/x", False, (), True),
        ("https://[::1]/x", False, (), True),
        ("https://[::ffff:127.0.0.1]/x", False, (), True),
        ("https://169.254.169.254/latest", False, (), True),
        ("https://10.1.2.3/x", False, (), True),
        ("https://10.1.2.3/x", False, ("10.1.2.0/24",), False),
        ("https://user:pw@api.netlify.com/x", False, (), True),
        ("ftp://api.netlify.com/x", False, (), True),
        ("http://127.0.0.1:8080/x", True, ("127.0.0.0/8",), False),
    ],
)
def test_which_hook_urls_are_refused_before_any_lookup(
    url: str, allow_http: bool, networks: tuple[str, ...], refused: bool
) -> None:
    why = url_refusal(url, allow_http=allow_http, allow_networks=networks)
    assert (why is not None) == refused, why
    if why is not None:
        assert "build_hooks" not in why
        assert "/x" not in why


def test_a_disallowed_destination_is_refused_by_the_check_and_at_load(
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = write_files(tmp_path / "site", {})
    with_hooks(site, ("metadata", "https://169.254.169.254/latest/meta-data"))
    # The content service serves the site without the hook and says so; nothing is queued.
    values = {"site_dir": site, "content_watch": True, "content_reload_debounce": 0.05}
    with TestClient(create_app(msgspec.structs.replace(settings, **values))) as client:
        holder = holder_of(client)
        eventually(lambda: holder.announces >= 1)
        edit_home(site, "Changed")
        eventually(lambda: holder.loads >= 2 and holder.announces >= 2)
        assert client.get("/v1/pages/home").json()["title"] == "Changed"
    assert redis_client.llen(QUEUE) == 0
    assert "build hook not used: site.yaml: $.build_hooks[0].url: refused" in caplog.text
    assert "meta-data" not in caplog.text

    # `frontdesk content check` fails on it (it configures logging: last).
    assert main(["content", "check", str(site)]) == 1
    out = capsys.readouterr().out
    assert "site.yaml: $.build_hooks[0].url: refused: host 169.254.169.254 is a link-local" in out


def test_a_destination_the_worker_does_not_allow_is_refused_at_delivery(
    clients: Clients,
    site: Path,
    hook: tuple[Receiver, str],
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = clients()
    edit_home(site, "Elsewhere")
    eventually(reloaded(client, 2))
    # The worker's ops settings do not allow loopback (changed since the announcement).
    monkeypatch.delenv("FRONTDESK_WEBHOOK_ALLOW_NETWORKS")
    run_jobs(redis_client)
    assert hook[0].requests == []
    assert redis_client.zcard(SCHEDULED) == 0
    [entry] = deliveries(redis_client, "netlify")
    assert (entry.attempt, entry.status, entry.outcome) == (1, None, "refused")
    assert entry.error is not None
    assert "loopback" in entry.error
    assert "/build" not in entry.error
