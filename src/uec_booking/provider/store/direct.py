"""PostgreSQL's driver without SQLAlchemy, for the two hottest statements: the change-epoch
read every slot search makes and the booking statement (`store/appointments.py`).

SQLAlchemy's async layer costs ~0.45 ms of CPU per statement on top of asyncpg's own, more
than the statements themselves; asyncpg prepares each statement once per connection and
sends it in one round trip after that. Everything else, SQLite and migrations stay on
SQLAlchemy. Errors are told apart as the SQLAlchemy store tells them: the database down is a
503, a value it cannot take a 400, a constraint violation the caller's to decide.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url

from uec_booking.fhir.errors import BadRequest, ServiceUnavailable


def driver_dsn(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (any driver) as the libpq form asyncpg takes."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A connection going back to the pool keeps its session as it is. asyncpg's default
    reset is a round trip per release (advisory unlocks, CLOSE ALL, UNLISTEN, RESET ALL),
    as dear as the statement itself; these connections run single statements and nothing
    that leaves session state. An open transaction is still rolled back by asyncpg itself."""


class DirectPool:
    """One asyncpg pool per event loop (uvicorn gives each worker its own), opened on first
    use and sized like the SQLAlchemy pool."""

    def __init__(self, url: str, *, max_size: int) -> None:
        self._dsn = driver_dsn(url)
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None

    async def _get(self) -> asyncpg.Pool:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._loop is loop:
            return self._pool
        if self._loop is not loop:
            # A pool is bound to the loop it was opened on (a store reused from another
            # `asyncio.run`): that loop's connections go with it.
            self._drop()
            self._loop, self._opening = loop, asyncio.Lock()
        assert self._opening is not None
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=1, max_size=self._max_size, reset=_keep_session
                )
        return self._pool

    def _drop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.terminate()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection outside any transaction: each statement commits on its own."""
        try:
            pool = await self._get()
            async with pool.acquire() as conn:
                yield conn
        except asyncpg.IntegrityConstraintViolationError:
            raise
        except asyncpg.PostgresError as exc:
            state = exc.sqlstate or ""
            if state.startswith("22"):
                raise BadRequest(
                    "A value in the request cannot be stored or searched for "
                    f"({type(exc).__name__})",
                    spine_code="BAD_REQUEST",
                ) from exc
            raise ServiceUnavailable(
                f"The booking store is unavailable: {type(exc).__name__}"
            ) from exc
        except (
            TimeoutError,
            EOFError,  # the server went away mid-message (asyncio.IncompleteReadError)
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
            OSError,
        ) as exc:
            raise ServiceUnavailable(
                f"The booking store is unavailable: {type(exc).__name__}"
            ) from exc

    async def close(self) -> None:
        if self._pool is not None and self._loop is asyncio.get_running_loop():
            pool, self._pool = self._pool, None
            await pool.close()
        self._drop()
