"""Engines and sessions for SQLite and PostgreSQL.

SQLite allows one writer at a time: write transactions start with `BEGIN IMMEDIATE` and wait
(busy timeout) instead of failing with "database is locked" half-way through; WAL lets
readers go on meanwhile. PostgreSQL needs none of that: the conditional UPDATE and the
unique index decide races.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from uec_booking.fhir.errors import BadRequest, Conflict, ServiceUnavailable
from uec_booking.provider.store import epochs
from uec_booking.provider.store.direct import DirectPool

SQLITE_BUSY_TIMEOUT_S = 30.0


def _with_driver(url: str, *, sqlite: str, postgresql: str) -> str:
    parsed = make_url(url)
    drivers = {"sqlite": sqlite, "postgresql": postgresql}
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")
    return parsed.set(drivername=drivers[backend]).render_as_string(hide_password=False)


def async_url(url: str) -> str:
    """The async-driver form of a database URL (asyncpg, aiosqlite)."""
    return _with_driver(url, sqlite="sqlite+aiosqlite", postgresql="postgresql+asyncpg")


def sync_url(url: str) -> str:
    """The sync-driver form (Alembic migrations run on it)."""
    return _with_driver(url, sqlite="sqlite", postgresql="postgresql+psycopg")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_engine(url: str, *, immediate: bool) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, pool_pre_ping=False
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours to write.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


class AlreadyStored(Conflict):
    """A write broke a unique constraint: what it writes is stored already (a request id
    used before, a slot booked meanwhile by another transaction). 409 unless the caller,
    which knows what it was writing, explains it better; no SQL reaches a response."""

    def __init__(self) -> None:
        super().__init__("The request conflicts with what is already stored")


def _is_data_error(exc: DBAPIError) -> bool:
    """The statement's values, not the database, are at fault: SQLSTATE class 22 (a NUL in a
    string, an integer out of range, a string too long), whatever the driver calls it."""
    if isinstance(exc, DataError):
        return True
    for candidate in (exc.orig, getattr(exc.orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str) and state.startswith("22"):
            return True
    return False


@asynccontextmanager
async def _unavailable_as_503() -> AsyncIterator[None]:
    """A database that is down or restarting is the server's trouble, not the client's:
    503 with Retry-After. A value the database cannot take is the client's: 400, never
    retried. A constraint violation is `AlreadyStored`, for the caller to explain."""
    try:
        yield
    except IntegrityError as exc:
        raise AlreadyStored() from exc
    except OverflowError as exc:  # SQLite: an integer beyond 64 bits
        raise BadRequest(
            "A value in the request is out of range", spine_code="BAD_REQUEST"
        ) from exc
    except DBAPIError as exc:
        if _is_data_error(exc):
            raise BadRequest(
                "A value in the request cannot be stored or searched for "
                f"({type(exc.orig).__name__})",
                spine_code="BAD_REQUEST",
            ) from exc
        raise ServiceUnavailable(f"The booking store is unavailable: {type(exc).__name__}") from exc
    except (PoolTimeout, OSError) as exc:
        raise ServiceUnavailable(f"The booking store is unavailable: {type(exc).__name__}") from exc


class Store:
    """The provider's database: `read()` and `write()` sessions, each one transaction."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        if is_sqlite(url):
            self._read_engine = _sqlite_engine(url, immediate=False)
            self._write_engine = _sqlite_engine(url, immediate=True)
        else:
            # No pre-ping: it is a round trip per checkout. A connection that died (PostgreSQL
            # restarted) fails its request with 503 and the pool drops every connection as old.
            engine = create_async_engine(
                async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False
            )
            self._read_engine = self._write_engine = engine
        # PostgreSQL's hottest statements go to the driver directly (`store/direct.py`).
        self.direct: DirectPool | None = (
            None if is_sqlite(url) else DirectPool(url, max_size=pool_size)
        )
        self._autocommit_engine = (
            None
            if is_sqlite(url)
            else self._read_engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._read = async_sessionmaker(self._read_engine, expire_on_commit=False)
        self._write = async_sessionmaker(self._write_engine, expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with _unavailable_as_503(), self._read() as session, session.begin():
            yield session

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for a single read statement, atomic on its own: on PostgreSQL outside
        any transaction, which saves the BEGIN and COMMIT round trips on the hottest reads."""
        engine = self._autocommit_engine or self._read_engine
        async with _unavailable_as_503(), engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed on success, rolled back on any exception."""
        async with _unavailable_as_503(), self._write() as session, session.begin():
            epochs.begin_tracking(session)
            yield session
            await epochs.flush(session)

    async def dispose(self) -> None:
        if self.direct is not None:
            await self.direct.close()
        await self._read_engine.dispose()
        if self._write_engine is not self._read_engine:
            await self._write_engine.dispose()
