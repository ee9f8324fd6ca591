"""Create the provider's PostgreSQL database when it is missing (`uec-booking db create`,
and `serve provider` on start), with a clear message when that is not allowed."""

from __future__ import annotations

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from uec_booking.provider.store.db import is_sqlite


class DatabaseSetupError(RuntimeError):
    """The database is missing and cannot be created; the message says what to run."""


def ensure_database(url: str) -> bool:
    """True if the database was created now; False if it existed (or is SQLite, which the
    migrations create). Connects to the server's `postgres` database to check and create."""
    if is_sqlite(url):
        return False
    parsed = make_url(url)
    name = parsed.database
    if not name:
        raise DatabaseSetupError(f"the database URL names no database: {parsed!r}")
    target = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(target, connect_timeout=10):
            return False
    except psycopg.OperationalError:
        pass  # missing, or the server is down: the maintenance connection tells which
    admin = parsed.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if found:
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    except psycopg.errors.InsufficientPrivilege as exc:
        raise DatabaseSetupError(
            f"database {name!r} does not exist and user {parsed.username!r} may not create it: "
            f"as a PostgreSQL superuser run: createdb -O {parsed.username} {name}"
        ) from exc
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseSetupError(
            f"cannot reach PostgreSQL at {parsed.host}:{parsed.port or 5432}: {reason}"
        ) from exc
