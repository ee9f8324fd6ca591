"""Alembic environment: the URL comes from the caller's settings (see migrate.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from uec_booking.provider.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Several processes may start at once: one migrates, the others wait.
            connection.execute(text("SELECT pg_advisory_xact_lock(727274101)"))
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    engine.dispose()


run_migrations_online()
