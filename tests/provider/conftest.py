"""A seeded provider on a real socket, on each store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from uec_booking import sample_data
from uec_booking.asgi_server import ThreadedServer
from uec_booking.provider.app import create_app
from uec_booking.provider.seed import seed
from uec_booking.provider.settings import AuthMode, ProviderSettings
from uec_booking.provider.store import Store
from uec_booking.provider.store.migrate import upgrade


@dataclass
class Provider:
    url: str  # FHIR base, e.g. http://127.0.0.1:PORT/fhir
    db_url: str
    client: httpx.Client


def seed_db(db_url: str, days: int = 3) -> None:
    upgrade(db_url)

    async def run() -> None:
        store = Store(db_url)
        try:
            await seed(store, sample_data.load(), first_day=datetime.now(UTC).date(), days=days)
        finally:
            await store.dispose()

    asyncio.run(run())


@pytest.fixture
def provider(db_url: str) -> Iterator[Provider]:
    seed_db(db_url)
    settings = ProviderSettings(db_url=db_url, auth_mode=AuthMode.OFF)
    with ThreadedServer(create_app(settings)) as server, httpx.Client(timeout=30) as client:
        yield Provider(f"{server.url}/fhir", db_url, client)
