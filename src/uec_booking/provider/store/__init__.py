"""The provider's store: SQLAlchemy 2 (async) on SQLite or PostgreSQL, schema owned by Alembic."""

from uec_booking.provider.store.db import AlreadyStored, Store

__all__ = ["AlreadyStored", "Store"]
