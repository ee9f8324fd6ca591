"""The store answers in the error tree: a broken unique constraint is `AlreadyStored` (409),
never SQLAlchemy's IntegrityError and never SQL in a diagnostic, on each store."""

from __future__ import annotations

import asyncio

import pytest

from uec_booking.fhir.errors import Conflict
from uec_booking.provider.store import AlreadyStored, Store
from uec_booking.provider.store.migrate import upgrade
from uec_booking.provider.store.models import ConsumerOrganisation


def test_a_duplicate_row_is_already_stored(db_url: str) -> None:
    upgrade(db_url)

    async def run() -> None:
        store = Store(db_url)
        try:
            async with store.write() as session:
                session.add(ConsumerOrganisation(ods="X26", organisation_type="NHS 111"))
            with pytest.raises(AlreadyStored) as refused:
                async with store.write() as session:
                    session.add(ConsumerOrganisation(ods="X26", organisation_type="ED"))
            assert isinstance(refused.value, Conflict) and refused.value.status == 409
            assert "consumer_organisation" not in refused.value.diagnostics
            # The first write stands; the second left nothing behind.
            async with store.read() as session:
                kept = await session.get(ConsumerOrganisation, "X26")
            assert kept is not None and kept.organisation_type == "NHS 111"
        finally:
            await store.dispose()

    asyncio.run(run())
