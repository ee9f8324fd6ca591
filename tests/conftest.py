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


# Test tiers (`make unit` runs tests/unit without them, `make test` everything, `make soak`
# the long runs). A test is marked by what it needs, found from its fixtures and parameters,
# so a new test on the store matrix or the SDS matrix is marked without anyone remembering to.
SLOW_MODULES = frozenset(
    {
        "tests/e2e/test_sandbox_cli.py",
        "tests/e2e/test_workflow.py",
        "tests/provider/test_contention.py",
        "tests/provider/test_concurrency.py",
        "tests/provider/test_crash_safety.py",
        "tests/console/test_console_browser.py",
        "tests/cli/test_sandbox_commands.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        fixtures = set(getattr(item, "fixturenames", ()))
        if "pg_url" in fixtures or "postgresql" in params.values():
            item.add_marker(pytest.mark.pg)
        if "slapd" in params.values() or params.get("slapd") is True:
            item.add_marker(pytest.mark.slapd)
        if Path(str(item.path)).relative_to(root).as_posix() in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
