"""`uec-booking serve provider` and `uec-booking seed`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from uec_booking import sample_data
from uec_booking.provider.settings import DEFAULT_DB, AuthMode
from uec_booking.provider.store import Store
from uec_booking.provider.store.migrate import upgrade

log = logging.getLogger("uec_booking.provider")

DbOption = Annotated[
    str, typer.Option("--db", envvar="UEC_DB_URL", help="sqlite:///file or postgresql://…")
]


def serve_provider(
    host: Annotated[str, typer.Option(envvar="UEC_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="UEC_PORT")] = 8020,
    db: DbOption = DEFAULT_DB,
    workers: Annotated[int, typer.Option(help="Processes (use PostgreSQL for more than 1)")] = 1,
    jwks_url: Annotated[
        str | None, typer.Option(envvar="UEC_JWKS_URL", help="JWKS of the NHS auth service")
    ] = None,
    issuer: Annotated[str | None, typer.Option(envvar="UEC_TOKEN_ISSUER")] = None,
    auth_mode: Annotated[
        AuthMode | None,
        typer.Option(envvar="UEC_AUTH_MODE", help="signed (JWKS), interim (unsigned), off"),
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Accept requests without tokens")
    ] = False,
    public_base_url: Annotated[
        str | None,
        typer.Option(envvar="UEC_PUBLIC_BASE_URL", help="FHIR base URL consumers use (token aud)"),
    ] = None,
    availability: Annotated[
        Path | None,
        typer.Option(
            envvar="UEC_AVAILABILITY_FILE",
            exists=True,
            dir_okay=False,
            help="Availability template to keep applied (rolls the horizon hourly)",
        ),
    ] = None,
    horizon: Annotated[
        int,
        typer.Option(envvar="UEC_AVAILABILITY_HORIZON_DAYS", min=1, max=366, help="Days ahead"),
    ] = 28,
    access_log: Annotated[
        bool, typer.Option(envvar="UEC_ACCESS_LOG", help="One JSON line per request (stderr)")
    ] = True,
) -> None:
    """Serve the provider FHIR API (migrates the database first)."""
    mode = AuthMode.OFF if no_auth else auth_mode or (AuthMode.SIGNED if jwks_url else None)
    if mode is None:
        raise typer.BadParameter(
            "give --jwks-url URL (or UEC_JWKS_URL) to verify tokens, --auth-mode interim, "
            "or --no-auth for local development",
            param_hint="--jwks-url / --no-auth",
        )
    if mode is AuthMode.SIGNED and not jwks_url:
        raise typer.BadParameter("--auth-mode signed needs --jwks-url", param_hint="--jwks-url")
    if workers > 1 and db.startswith("sqlite"):
        raise typer.BadParameter("several workers need PostgreSQL (--db postgresql://…)")
    base = public_base_url or f"http://{host}:{port}/fhir"
    env = {
        "UEC_DB_URL": db,
        "UEC_AUTH_MODE": mode.value,
        "UEC_PUBLIC_BASE_URL": base,
        **({"UEC_JWKS_URL": jwks_url} if jwks_url else {}),
        **({"UEC_TOKEN_ISSUER": issuer} if issuer else {}),
    }
    if availability is not None:
        from uec_booking.provider.availability import TemplateError, load_template

        try:
            load_template(availability)
        except TemplateError as exc:
            raise typer.BadParameter(str(exc), param_hint="--availability") from None
        env["UEC_AVAILABILITY_FILE"] = str(availability.resolve())
        env["UEC_AVAILABILITY_HORIZON_DAYS"] = str(horizon)
    env["UEC_ACCESS_LOG"] = "true" if access_log else "false"
    if workers > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        env["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir()
    os.environ.update(env)
    from uec_booking.provider.ops_cli import prepare_database

    prepare_database(db)
    typer.echo(f"provider FHIR API on {base} (store {db.split('@')[-1]}, auth {mode.value})")
    uvicorn.run(
        "uec_booking.provider.asgi:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )


def _metrics_dir() -> str:
    """Where the workers' metric samples go (prometheus-client multiprocess mode): the
    configured directory emptied of a previous run's files, else a new temporary one."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not configured:
        return tempfile.mkdtemp(prefix="uec-provider-metrics-")
    Path(configured).mkdir(parents=True, exist_ok=True)
    for stale in Path(configured).glob("*.db"):
        stale.unlink()
    return configured


def seed(
    db: DbOption = DEFAULT_DB,
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of slots from today")] = 7,
    from_file: Annotated[
        Path | None, typer.Option(exists=True, help="Import a FHIR Bundle of Schedules/Slots")
    ] = None,
    healthcare_service: Annotated[
        str | None, typer.Option(help="HealthcareService for imported Schedules that name none")
    ] = None,
    directory_file: Annotated[
        Path | None, typer.Option("--directory", exists=True, help="Sample directory JSON")
    ] = None,
) -> None:
    """Load the sample services and generate slots (or import a Bundle). Idempotent."""
    from uec_booking.provider.seed import import_bundle
    from uec_booking.provider.seed import seed as seed_store

    upgrade(db)

    async def run() -> None:
        store = Store(db)
        try:
            if from_file:
                bundle = json.loads(from_file.read_text(encoding="utf-8"))
                report = await import_bundle(store, bundle, healthcare_service=healthcare_service)
            else:
                sample = sample_data.load(str(directory_file) if directory_file else None)
                today = datetime.now(UTC).date()
                report = await seed_store(store, sample, first_day=today, days=days)
        finally:
            await store.dispose()
        typer.echo(
            f"seeded: {report.resources_written} directory resources written, "
            f"{report.slots_added} slots added, {report.slots_total} slots stored"
        )

    from uec_booking.fhir.errors import FhirError

    try:
        asyncio.run(run())
    except FhirError as exc:  # a bad file: one sentence, nothing written
        typer.echo(f"error: {exc.diagnostics}", err=True)
        raise typer.Exit(2) from None


def audit(
    db: DbOption = DEFAULT_DB,
    since: Annotated[
        datetime | None, typer.Option(help="Only events at or after this UTC time")
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Show the provider's audit trail: who booked or cancelled what, when, and how it ended."""
    from rich.console import Console
    from rich.table import Table

    from uec_booking.provider.store.audit import events

    upgrade(db)

    async def load() -> list[dict[str, object]]:
        store = Store(db)
        try:
            async with store.read() as session:
                found = await events(session, since=since, limit=limit)
        finally:
            await store.dispose()
        return [
            {
                "at": e.recorded_at.isoformat() + "Z",
                "interaction": e.interaction,
                "outcome": e.outcome,
                "status": e.status_code,
                "client_id": e.client_id,
                "asid": e.asid,
                "ods": e.ods,
                "trace_id": e.trace_id,
                "request_id": e.request_id,
                "resource_id": e.resource_id,
                "detail": e.detail,
            }
            for e in found
        ]

    rows = asyncio.run(load())
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    columns = (
        "at",
        "interaction",
        "status",
        "client_id",
        "asid",
        "trace_id",
        "resource_id",
        "detail",
    )
    table = Table(title=f"Audit trail ({len(rows)} events)")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c] or "") for c in columns))
    Console().print(table)
