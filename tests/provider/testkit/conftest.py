"""One provider per test-kit module, in the standard's interim token mode (the kit sends
consumer-built JWTs), seeded with the sample directory and a HealthcareService without slots."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.provider.testkit.kit import HCS_NO_SLOTS, PUBLIC_BASE, Kit
from uec_booking import sample_data
from uec_booking.asgi_server import ThreadedServer
from uec_booking.provider.app import create_app
from uec_booking.provider.seed import seed
from uec_booking.provider.settings import AuthMode, ProviderSettings
from uec_booking.provider.store import Store, directory
from uec_booking.provider.store.migrate import upgrade


def _seed(db_url: str) -> None:
    upgrade(db_url)

    async def run() -> None:
        store = Store(db_url)
        try:
            await seed(store, sample_data.load(), first_day=datetime.now(UTC).date(), days=6)
            async with store.write() as session:
                await directory.upsert(
                    session,
                    {
                        "resourceType": "HealthcareService",
                        "id": HCS_NO_SLOTS,
                        "active": True,
                        "providedBy": {"reference": "Organization/org-x26pr1"},
                        "name": "Test kit service with no slots",
                    },
                )
        finally:
            await store.dispose()

    asyncio.run(run())


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    db_url = f"sqlite:///{tmp_path_factory.mktemp('testkit') / 'provider.sqlite3'}"
    _seed(db_url)
    settings = ProviderSettings(
        db_url=db_url, auth_mode=AuthMode.INTERIM, public_base_url=PUBLIC_BASE
    )
    with ThreadedServer(create_app(settings)) as server, httpx.Client(timeout=30) as client:
        yield Kit(f"{server.url}/fhir", client)
