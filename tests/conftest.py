"""Shared fixtures. `db_url` runs a test on each store: SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import PG_UNAVAILABLE, fresh_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL on a fresh, empty store of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'provider.sqlite3'}"
        return
    if PG_UNAVAILABLE:
        pytest.skip(f"PostgreSQL NOT AVAILABLE, PostgreSQL tests skipped: {PG_UNAVAILABLE}")
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database URL (skipped loudly when no PostgreSQL can be had)."""
    if PG_UNAVAILABLE:
        pytest.skip(f"PostgreSQL NOT AVAILABLE, PostgreSQL tests skipped: {PG_UNAVAILABLE}")
    with fresh_pg_database() as url:
        yield url
