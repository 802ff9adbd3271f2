"""Webhook destinations are checked after resolution, on every attempt, and the POST goes to the
address that was checked: a site's form cannot send patient data to loopback, private or cloud
metadata addresses unless ops allow the range. Real HTTP receivers, real Redis, real relay."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import CLINIC_SITE
from tests.relay import Relay, running, self_signed, server_context
from tests.service.test_worker_messages import run_jobs, stored, submit, visitor
from worker.destinations import Refused, check


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class Receivers:
    """One handler on 127.0.0.1:port and [::1]:port (the same port), another on 127.0.0.3:port."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.port = 0


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    state = Receivers()

    def handler(where: str) -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                state.seen.append((where, dict(self.headers.items())))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    v4 = ThreadingHTTPServer(("127.0.0.1", 0), handler("loopback"))
    state.port = v4.server_address[1]
    servers = [
        v4,
        _Server6(("::1", state.port), handler("loopback")),
        ThreadingHTTPServer(("127.0.0.3", state.port), handler("internal")),
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hook_site(
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: redis.Redis,
) -> Iterator[Path]:
    site = tmp_path / "site"
    shutil.copytree(CLINIC_SITE, site)
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(site))
    monkeypatch.setenv("FRONTDESK_RATE_LIMITS", "off")
    monkeypatch.setenv("FRONTDESK_SMTP_TIMEOUT", "3")
    with running(Relay()) as port:
        monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
        yield site


def _hook(site: Path, url: str) -> None:
    form = site / "forms" / "contact.yaml"
    form.write_text(form.read_text().split("\nwebhook:")[0] + f"\nwebhook:\n  url: '{url}'\n")


def _webhook_state(redis_client: redis.Redis, url: str, site: Path) -> Any:
    _hook(site, url)
    submission_id = submit(visitor())
    run_jobs(redis_client)
    return stored(redis_client, submission_id).message("webhook")


def _resolver(monkeypatch: pytest.MonkeyPatch, answers: Callable[[int], list[str]]) -> list[str]:
    """``hooks.clinic.test`` resolves to ``answers(n)`` at its n-th lookup (from 1); returns the
    list of lookups made. Other names resolve as usual."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.clinic.test":
            return real(host, *args, **kwargs)
        lookups.append(host)
        return [info for ip in answers(len(lookups)) for info in real(ip, *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return lookups


ALLOW_HTTP = {"FRONTDESK_WEBHOOK_ALLOW_HTTP": "on"}
HOSTS = ["localhost", "[::1]", "[::ffff:127.0.0.1]", "0x7f000001", "127.1", "169.254.169.254"]


@pytest.mark.parametrize(
    ("variables", "host", "named"),
    [(ALLOW_HTTP, host, "FRONTDESK_WEBHOOK_ALLOW_NETWORKS") for host in HOSTS]
    # https only by default, even to an allowed range.
    + [({"FRONTDESK_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8"}, "127.0.0.1", "ALLOW_HTTP")],
    ids=[*HOSTS, "http-to-an-allowed-range"],
)
def test_loopback_link_local_and_http_destinations_are_refused(
    hook_site: Path,
    receivers: Receivers,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    host: str,
    named: str,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    state = _webhook_state(redis_client, f"http://{host}:{receivers.port}/hook", hook_site)
    assert receivers.seen == []
    assert state is not None
    assert state.status == "failed"
    assert state.last_error is not None
    assert named in state.last_error.text


# IPv6 addresses that carry an IPv4 address a relay or gateway would reach: 6to4 (2002::/16,
# RFC 3056) with loopback, metadata, private and public IPv4 inside; Teredo (2001::/32, RFC 4380);
# NAT64 (64:ff9b::/96, RFC 6052) and IPv4-compatible (::a.b.c.d). Checked offline: a numeric host
# resolves without a lookup, and check() makes no connection.
TUNNELLED = [
    "2002:7f00:1::1",
    "2002:a9fe:a9fe::1",
    "2002:a00:1::1",
    "2002:808:808::1",
    "2001:0:7f00:1::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "64:ff9b::a9fe:a9fe",
    "::7f00:1",
]


@pytest.mark.parametrize("address", TUNNELLED)
def test_ipv6_addresses_that_tunnel_to_ipv4_are_refused(address: str) -> None:
    with pytest.raises(Refused, match="FRONTDESK_WEBHOOK_ALLOW_NETWORKS"):
        check(f"https://[{address}]/x", allow_http=False, allow_networks=())


def test_ops_may_allow_a_tunnelled_range_only_by_its_ipv6_range() -> None:
    """Allowing 127.0.0.0/8 does not allow the 6to4 address of 127.0.0.1: the relay that would
    carry it is not the loopback ops meant. Allowing 2002::/16 itself does."""
    with pytest.raises(Refused, match="6to4"):
        check("https://[2002:7f00:1::1]/x", allow_http=False, allow_networks=("127.0.0.0/8",))
    checked = check("https://[2002:808:808::1]/x", allow_http=False, allow_networks=("2002::/16",))
    assert checked.addresses == ("2002:808:808::1",)


def test_an_allowed_range_is_delivered_to_the_address_that_was_checked(
    hook_site: Path,
    receivers: Receivers,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the first answer (checked) is 127.0.0.1, which ops allow; any later lookup
    would answer 127.0.0.3, an internal service. The POST reaches 127.0.0.1, once resolved."""
    monkeypatch.setenv("FRONTDESK_WEBHOOK_ALLOW_HTTP", "on")
    monkeypatch.setenv("FRONTDESK_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32, ::1/128")
    lookups = _resolver(monkeypatch, lambda n: ["127.0.0.1" if n == 1 else "127.0.0.3"])
    state = _webhook_state(
        redis_client, f"http://hooks.clinic.test:{receivers.port}/hook", hook_site
    )
    assert state is not None
    assert state.status == "sent", state.last_error
    [(where, headers)] = receivers.seen
    assert where == "loopback"
    assert headers["Host"] == f"hooks.clinic.test:{receivers.port}"
    assert lookups == ["hooks.clinic.test"]


def test_tls_names_and_verifies_the_host_not_the_pinned_address(
    hook_site: Path,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Connecting to the checked address keeps TLS on the host name: the server sees it as SNI, and
    a certificate the system store does not trust is refused (transient: the job retries)."""
    cert, key = self_signed(tmp_path)
    names: list[str | None] = []
    context = server_context(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            connection, _ = listener.accept()
            with connection, contextlib.suppress(ssl.SSLError, OSError):
                context.wrap_socket(connection, server_side=True).close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        monkeypatch.setenv("FRONTDESK_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8")
        _resolver(monkeypatch, lambda _: ["127.0.0.1"])
        state = _webhook_state(redis_client, f"https://hooks.clinic.test:{port}/hook", hook_site)
        thread.join(5)
    assert names == ["hooks.clinic.test"]
    assert state is not None
    assert state.status == "queued"
    assert state.last_error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in state.last_error.text


def test_the_next_checked_address_is_tried_when_one_does_not_connect(
    hook_site: Path,
    receivers: Receivers,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host with two addresses, the first one unreachable (no IPv6 route here, say): the POST
    goes to the second, which was checked too, not to a fresh lookup."""
    monkeypatch.setenv("FRONTDESK_WEBHOOK_ALLOW_HTTP", "on")
    monkeypatch.setenv("FRONTDESK_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8")
    _resolver(monkeypatch, lambda _: ["127.0.0.5", "127.0.0.1"])
    state = _webhook_state(
        redis_client, f"http://hooks.clinic.test:{receivers.port}/hook", hook_site
    )
    assert state is not None
    assert state.status == "sent", state.last_error
    assert [where for where, _ in receivers.seen] == ["loopback"]


@pytest.mark.parametrize(
    "url",
    [
        "https://[s3cr3t.clinic.example/x",
        "https://hooks.clinic.example:s3cr3t/x",
        "https://[::1/s3cr3t",
    ],
)
def test_a_url_that_does_not_parse_is_refused_not_a_crash(url: str) -> None:
    """A webhook URL (or chat secret) that ``urlsplit`` cannot read was a ``ValueError`` out of
    the job: RQ logged a traceback and retried it as a crash, the message stuck in ``sending``.
    It is a refused destination: the message fails at once, with a text that repeats no part of it.
    """
    with pytest.raises(Refused) as refused:
        check(url, allow_http=False, allow_networks=())
    assert "s3cr3t" not in str(refused.value)
