"""Fixtures of the content tests: an app over a purpose-built site in a temporary directory."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from frontdesk.settings import Settings
from services.content.app import create_app, create_internal_app
from tests.content.sites import write_files

ClientFactory = Callable[..., TestClient]  # type: ignore[type-arg]


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    return write_files(tmp_path / "site", {})


@pytest.fixture
def make_client(settings: Settings, site_dir: Path) -> Iterator[ClientFactory]:
    """``make_client(**settings_changes)``: a started test client over ``site_dir`` (file watching
    off unless asked for)."""
    clients: list[TestClient] = []  # type: ignore[type-arg]

    def make(**changes: Any) -> TestClient:  # type: ignore[type-arg]
        values: dict[str, Any] = {"site_dir": site_dir, "content_watch": False, **changes}
        client = TestClient(create_app(msgspec.structs.replace(settings, **values)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def internal_of(client: TestClient) -> TestClient:  # type: ignore[type-arg]
    """A test client of the internal app (health detail, metrics) over ``client``'s site holder,
    as ``frontdesk serve content`` runs both in one process."""
    state = client.app.state
    return TestClient(create_internal_app(state.settings, state.holder))


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``check`` until it is true; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")
