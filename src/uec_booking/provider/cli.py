"""`uec-booking serve provider` and `uec-booking seed`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

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
    tls_cert: Annotated[
        Path | None,
        typer.Option(envvar="UEC_TLS_CERT", exists=True, help="Serve HTTPS: certificate (PEM)"),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(envvar="UEC_TLS_KEY", exists=True, help="... and its key")
    ] = None,
    tls_client_ca: Annotated[
        Path | None,
        typer.Option(
            envvar="UEC_TLS_CLIENT_CA",
            exists=True,
            help="Require a client certificate from this CA (the SSP's: Spine's)",
        ),
    ] = None,
    behind_tls_proxy: Annotated[
        bool,
        typer.Option(
            "--behind-tls-proxy",
            envvar="UEC_BEHIND_TLS_PROXY",
            help="TLS ends at a proxy in front (which checks the SSP's certificate): send HSTS, trust its Forwarded headers",
        ),
    ] = False,
) -> None:
    """Serve the provider FHIR API (migrates the database first)."""
    if bool(tls_cert) != bool(tls_key):
        raise typer.BadParameter("--tls-cert and --tls-key go together", param_hint="--tls-cert")
    if tls_client_ca and not tls_cert:
        raise typer.BadParameter("--tls-client-ca needs --tls-cert", param_hint="--tls-client-ca")
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
    base = public_base_url or f"{'https' if tls_cert else 'http'}://{host}:{port}/fhir"
    env = {
        "UEC_DB_URL": db,
        "UEC_AUTH_MODE": mode.value,
        "UEC_PUBLIC_BASE_URL": base,
        **({"UEC_JWKS_URL": jwks_url} if jwks_url else {}),
        **({"UEC_TOKEN_ISSUER": issuer} if issuer else {}),
    }
    os.environ.update(env)
    upgrade(db)
    typer.echo(f"provider FHIR API on {base} (store {db.split('@')[-1]}, auth {mode.value})")
    uvicorn.run(
        "uec_booking.provider.asgi:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        timeout_graceful_shutdown=10,
        **_tls_options(tls_cert, tls_key, tls_client_ca, behind_tls_proxy),
    )


def _tls_options(
    cert: Path | None, key: Path | None, client_ca: Path | None, behind_proxy: bool
) -> dict[str, Any]:
    """uvicorn's TLS options: HTTPS with HSTS (the SSP guide: HSTS SHALL be employed), and
    with `client_ca` a client certificate from it required in the handshake."""
    import ssl

    from uec_booking.asgi_server import HSTS

    options: dict[str, Any] = {}
    if cert and key:
        options |= {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        if client_ca:
            options |= {"ssl_ca_certs": str(client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    if cert or behind_proxy:
        options["headers"] = [("strict-transport-security", HSTS)]
    if behind_proxy:
        options |= {"proxy_headers": True, "forwarded_allow_ips": "*"}
    return options


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

    asyncio.run(run())


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
