"""Alembic owns the schema: the models and the migrations must agree, on both stores."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from uec_booking.provider.store.db import sync_url
from uec_booking.provider.store.migrate import upgrade
from uec_booking.provider.store.models import Base


def test_models_match_migrations(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)  # idempotent
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
