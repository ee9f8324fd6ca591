"""A sandbox (for its auth service and its own provider), and our real provider behind a
faulty proxy: the provider's public base URL is the proxy's, as behind any load balancer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.check.faulty import Faults, faulty_proxy
from uec_booking import sample_data
from uec_booking.asgi_server import ThreadedServer
from uec_booking.check.model import Report
from uec_booking.check.provider import run_provider_checks
from uec_booking.check.wire import Target
from uec_booking.consumer.auth import ClientCredentialsTokens
from uec_booking.netutil import free_port
from uec_booking.provider.app import create_app
from uec_booking.provider.seed import seed
from uec_booking.provider.settings import AuthMode, ProviderSettings
from uec_booking.provider.store import Store
from uec_booking.provider.store.migrate import upgrade
from uec_booking.sandbox import Sandbox

CONSUMER = sample_data.load()["consumer_systems"]


_SANDBOX: list[Sandbox] = []  # the running one, so a test's own provider can be registered


@pytest.fixture(scope="session")
def sandbox() -> Iterator[dict[str, Any]]:
    running = Sandbox(days=3, tls=False)
    with running as manifest:
        # The audience CConnect-ApptTest_3 asks a token for: another provider the auth
        # service knows, so the token is real and only its aud is wrong.
        running.register_provider("https://notanendpoint.example/fhir")
        _SANDBOX.append(running)
        yield manifest
        _SANDBOX.remove(running)


def signed_target(manifest: dict[str, Any], url: str, **kw: Any) -> Target:
    auth = manifest["auth"]
    return Target(
        base_url=url,
        service="2000100001",
        auth="signed",
        token_url=auth["token_url"],
        client_id=CONSUMER[0]["client_id"],
        client_secret=CONSUMER[0]["client_secret"],
        limited_client_id=CONSUMER[1]["client_id"],
        limited_client_secret=CONSUMER[1]["client_secret"],
        **kw,
    )


def check(target: Target, *cases: str) -> Report:
    return asyncio.run(run_provider_checks(target, only=list(cases) or None))


def failed(report: Report) -> set[str]:
    return {c.case_id for c in report.cases if c.outcome.value == "fail"}


def seeded_sqlite(path: Path) -> str:
    url = f"sqlite:///{path}"
    upgrade(url)

    async def run() -> None:
        store = Store(url)
        try:
            await seed(store, sample_data.load(), first_day=datetime.now(UTC).date(), days=3)
        finally:
            await store.dispose()

    asyncio.run(run())
    return url


@contextmanager
def behind_proxy(manifest: dict[str, Any], db_url: str, faults: Faults) -> Iterator[str]:
    """Our provider (signed mode, the sandbox's auth) behind a faulty proxy; yields the
    proxy's FHIR base URL, which is the provider's public one."""
    proxy_port = free_port()
    public = f"http://127.0.0.1:{proxy_port}/fhir"
    for running in _SANDBOX:  # tokens are minted only for registered providers
        running.register_provider(public)
    settings = ProviderSettings(
        db_url=db_url,
        public_base_url=public,
        auth_mode=AuthMode.SIGNED,
        jwks_url=manifest["auth"]["jwks_url"],
        token_issuer=manifest["auth"]["issuer"],
    )
    with (
        ThreadedServer(create_app(settings)) as provider,
        ThreadedServer(faulty_proxy(f"{provider.url}/fhir", faults), port=proxy_port),
    ):
        yield public


@pytest.fixture
def broken(sandbox: dict[str, Any], tmp_path: Path) -> Callable[[Faults], Any]:
    db_url = seeded_sqlite(tmp_path / "provider.sqlite3")

    def make(faults: Faults) -> Any:
        return behind_proxy(sandbox, db_url, faults)

    return make


def token_substitute(manifest: dict[str, Any], audience: str) -> Callable[[], Awaitable[str]]:
    tokens = ClientCredentialsTokens(
        token_url=manifest["auth"]["token_url"],
        client_id=CONSUMER[0]["client_id"],
        client_secret=CONSUMER[0]["client_secret"],
    )

    async def substitute() -> str:
        return await tokens.token(audience=audience)

    return substitute
