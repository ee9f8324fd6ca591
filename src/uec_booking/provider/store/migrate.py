"""Apply the Alembic migrations (on start, before any worker serves a request)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config

from uec_booking.provider.store.db import sync_url


def alembic_config(db_url: str) -> Config:
    config = Config()
    location = Path(str(resources.files("uec_booking.provider.store") / "migrations"))
    config.set_main_option("script_location", str(location))
    config.set_main_option("sqlalchemy.url", sync_url(db_url).replace("%", "%%"))
    return config


def upgrade(db_url: str) -> None:
    """Bring the schema at `db_url` to the newest revision (idempotent)."""
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(db_url), "head")
