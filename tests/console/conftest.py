"""The console tests share one sandbox; the browser fixture keeps a screenshot on failure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from uec_booking.sandbox import Sandbox


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    setattr(item, f"rep_{call.when}", outcome.get_result())  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def sandbox() -> Iterator[dict[str, Any]]:
    with Sandbox(days=2) as manifest:
        yield manifest


@pytest.fixture(scope="session")
def console(sandbox: dict[str, Any]) -> str:
    return str(sandbox["console"]["url"])


@pytest.fixture
def sign_in(console: str) -> Iterator[Any]:
    """`sign_in(username)` → (httpx client with a console session, CSRF token); closed after."""
    from tests.console.support import signed_in

    clients: list[Any] = []

    def sign(username: str) -> tuple[Any, str]:
        client, token = signed_in(console, username)
        clients.append(client)
        return client, token

    yield sign
    for client in clients:
        client.close()
