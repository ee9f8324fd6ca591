"""Running a provider: `uec-booking availability …`, `uec-booking provider-slots …` (provider
staff's slot management; `uec-booking slots` is the consumer's search) and `uec-booking db …`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import typer

from uec_booking.cli_options import options
from uec_booking.fhir.errors import FhirError
from uec_booking.provider.availability import (
    DEFAULT_HORIZON_DAYS,
    TemplateError,
    apply,
    load_template,
)
from uec_booking.provider.settings import DEFAULT_DB
from uec_booking.provider.store import Store
from uec_booking.provider.store.create_db import DatabaseSetupError, ensure_database
from uec_booking.provider.store.migrate import upgrade

T = TypeVar("T")


availability_app = typer.Typer(no_args_is_help=True, help="Availability templates → slots.")
slots_app = typer.Typer(
    no_args_is_help=True, help="Provider staff: block and unblock slots (audited)."
)
db_app = typer.Typer(no_args_is_help=True, help="The provider's database.")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def prepare_database(db: str) -> None:
    """Create the database when missing, then migrate it: one sentence when it cannot."""
    try:
        if ensure_database(db):
            typer.echo(f"created database {db.rsplit('/', 1)[-1]}")
        upgrade(db)
    except DatabaseSetupError as exc:
        raise _fail(str(exc)) from None


def _with_store(db: str, work: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = Store(db)
        try:
            return await work(store)
        finally:
            await store.dispose()

    try:
        return asyncio.run(run())
    except FhirError as exc:
        raise _fail(exc.diagnostics) from None


@db_app.command("create")
@options("db create", db=DEFAULT_DB)
def db_create(db: str) -> None:
    """Create the PostgreSQL database if it is missing and bring its schema up to date."""
    prepare_database(db)
    typer.echo("database ready (schema at the newest migration)")


@db_app.command("upgrade")
@options("db upgrade", db=DEFAULT_DB)
def db_upgrade(db: str) -> None:
    """Apply the schema migrations (what `serve provider` does on start)."""
    prepare_database(db)
    typer.echo("schema at the newest migration")


@availability_app.command("check")
@options("availability check")
def availability_check(file: Path) -> None:
    """Validate a template against the schema without touching any store."""
    try:
        template = load_template(file)
    except TemplateError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"{file}: valid ({len(template['services'])} services)")


@availability_app.command("apply")
@options("availability apply", db=DEFAULT_DB, horizon=DEFAULT_HORIZON_DAYS)
def availability_apply(
    file: Path,
    db: str,
    horizon: int,
) -> None:
    """Make the store's future slots what the template says (idempotent; booked slots are
    never touched, only reported)."""
    try:
        template = load_template(file)
    except TemplateError as exc:
        raise _fail(str(exc)) from None
    prepare_database(db)
    now = datetime.now(UTC)
    from uec_booking.provider.admin import cli_provenance

    who = cli_provenance()
    report = _with_store(db, lambda s: apply(s, template, now=now, horizon_days=horizon, who=who))
    assert report is not None  # wait=True: it waits for the lock
    typer.echo(
        f"availability applied: {report.added} slots added, {report.withdrawn} withdrawn, "
        f"{report.restored} restored, {report.changed} changed, {report.unchanged} unchanged, "
        f"{report.blocked_kept} blocked kept, {len(report.booked_outside)} booked outside "
        f"the template; {report.directory_written} directory resources written; horizon to "
        f"{report.horizon_end.isoformat() if report.horizon_end else '-'}Z"
    )
    for slot in report.booked_outside:
        typer.echo(f"  booked, left as it is: Slot/{slot.id} {slot.start.isoformat()}Z")


def _slots_command(blocked: bool) -> Callable[..., None]:
    """`block` and `unblock`: the same selection of slots, moved one way or the other."""

    @options("provider-slots block|unblock", db=DEFAULT_DB)
    def command(
        slot_ids: list[str] | None,
        db: str,
        service: str | None,
        schedule: str | None,
        start: datetime | None,
        end: datetime | None,
        reason: str | None,
    ) -> None:
        from uec_booking.provider.admin import cli_provenance, set_blocked
        from uec_booking.provider.search_dates import utc_naive

        if (service or schedule) and not (start and end) and not slot_ids:
            raise _fail("a range needs both --from and --to")
        if (
            start
            and end
            and start.replace(tzinfo=start.tzinfo or UTC) >= end.replace(tzinfo=end.tzinfo or UTC)
        ):
            raise _fail("--to must be after --from")
        prepare_database(db)
        report = _with_store(
            db,
            lambda s: set_blocked(
                s,
                blocked=blocked,
                reason=reason,
                who=cli_provenance(),
                slot_ids=slot_ids or None,
                service_id=service,
                schedule_id=schedule,
                start_ge=utc_naive(start.replace(tzinfo=start.tzinfo or UTC)) if start else None,
                start_lt=utc_naive(end.replace(tzinfo=end.tzinfo or UTC)) if end else None,
            ),
        )
        verb = "blocked" if blocked else "unblocked"
        typer.echo(f"{len(report.changed)} slots {verb}, {len(report.skipped)} left as they are")
        for slot in report.skipped:
            typer.echo(f"  {slot.status}, left as it is: Slot/{slot.id} {slot.start.isoformat()}Z")

    return command


slots_app.command(
    "block", help="Block free slots (status busy-unavailable): never offered, never bookable."
)(_slots_command(True))
slots_app.command("unblock", help="Free blocked slots again.")(_slots_command(False))
