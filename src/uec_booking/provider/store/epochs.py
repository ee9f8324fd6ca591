"""Change epochs. A writer marks the scopes it touched (`touch`); `Store.write` bumps them as
the last statement of the same transaction (`flush`), so the epoch row's lock is held only
for the commit. A reader that cached something at epoch E may serve it while the scope
still reads E. Scopes are bumped in sorted order: two writers never wait in a cycle."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from uec_booking.provider.store.models import ChangeEpoch

if TYPE_CHECKING:
    from uec_booking.provider.store.db import Store

DIRECTORY = "directory"


def slots_of(service_id: str) -> str:
    """The scope of one HealthcareService's slots."""
    return f"slots:{service_id}"


_TOUCHED = "uec_epoch_scopes"


def touch(session: AsyncSession, scopes: Iterable[str]) -> None:
    """Record that this transaction changed what `scopes` cover."""
    touched = session.info.get(_TOUCHED)
    if touched is None:
        raise RuntimeError("epochs.touch() needs a session from Store.write()")
    touched.update(scopes)


def begin_tracking(session: AsyncSession) -> None:
    session.info[_TOUCHED] = set()


async def flush(session: AsyncSession) -> None:
    """Bump what the transaction touched; `Store.write` calls this just before COMMIT."""
    touched = session.info.pop(_TOUCHED, None)
    if touched:
        await bump(session, touched)


# Built once per dialect: a booking runs this, and building it costs more than running it.
_BUMP = {
    name: insert(ChangeEpoch)
    .values(scope=bindparam("b_scope"), epoch=1)
    .on_conflict_do_update(
        index_elements=[ChangeEpoch.scope], set_={"epoch": ChangeEpoch.epoch + 1}
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


async def bump(session: AsyncSession, scopes: Iterable[str]) -> None:
    statement = _BUMP[session.get_bind().dialect.name]
    for scope in sorted(set(scopes)):
        await session.execute(statement, {"b_scope": scope})


# Built once: SQLAlchemy then reuses its compiled form (this read runs for every search).
_READ = select(ChangeEpoch.scope, ChangeEpoch.epoch).where(
    ChangeEpoch.scope.in_(bindparam("scopes", expanding=True))
)


async def read(session: AsyncSession | AsyncConnection, scopes: Iterable[str]) -> tuple[int, ...]:
    """The epochs of `scopes`, in the order given (0 for a scope never written)."""
    wanted = list(scopes)
    rows = await session.execute(_READ, {"scopes": wanted})
    found = {scope: epoch for scope, epoch in rows.all()}
    return tuple(found.get(scope, 0) for scope in wanted)


# The same read for the driver directly (PostgreSQL): prepared once per connection.
_READ_DIRECT = "SELECT scope, epoch FROM change_epoch WHERE scope = ANY($1::text[])"


async def _read_now(store: Store, scopes: list[str]) -> tuple[int, ...]:
    if store.direct is None:
        async with store.statement() as conn:
            return await read(conn, scopes)
    async with store.direct.connection() as direct:
        found = {r["scope"]: r["epoch"] for r in await direct.fetch(_READ_DIRECT, scopes)}
    return tuple(found.get(scope, 0) for scope in scopes)


class EpochReader:
    """Epoch reads for many concurrent requests answered by one query.

    A request is answered only by a query sent after it arrived, so it still sees every
    commit made before it: while one query is out, arrivals gather into the next one. Under
    load one round trip serves a whole batch; alone, a request costs what a read costs.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: _Batch | None = None
        self._runner: asyncio.Task[None] | None = None
        self.queries = 0

    async def read(self, scopes: Sequence[str]) -> tuple[int, ...]:
        if self._pending is None:
            self._pending = _Batch()
        batch = self._pending
        batch.scopes.update(scopes)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        found = await asyncio.shield(batch.future)
        return tuple(found.get(scope, 0) for scope in scopes)

    async def _run(self) -> None:
        while self._pending is not None:
            batch, self._pending = self._pending, None
            self.queries += 1
            scopes = sorted(batch.scopes)
            try:
                values = await _read_now(self._store, scopes)
            except Exception as exc:  # every waiter of this batch re-raises it
                batch.future.set_exception(exc)
                continue
            batch.future.set_result(dict(zip(scopes, values, strict=True)))


class _Batch:
    def __init__(self) -> None:
        self.scopes: set[str] = set()
        self.future: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
        # Read here too, so that a batch whose waiters all went away logs no warning.
        self.future.add_done_callback(lambda f: f.cancelled() or f.exception())
