"""`uec-booking serve provider` and `uec-booking seed`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from uec_booking import sample_data
from uec_booking.asgi_server import (
    BODY_TIMEOUT_ENV,
    HEAD_TIMEOUT_ENV,
    RequestTimeouts,
    protocol_for,
)
from uec_booking.cli_errors import UserError
from uec_booking.cli_options import check_tls_pair, options
from uec_booking.provider.settings import DEFAULT_DB, AuthMode
from uec_booking.provider.store import Store
from uec_booking.provider.store.migrate import upgrade

log = logging.getLogger("uec_booking.provider")


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); expected {what}") from exc


def store_url(db: str, *, existing: bool) -> str:
    """`db` checked before anything is created: a SQLite file's directory must exist, and a
    command that only reads (`existing`) must name a store that is there already, so a typo
    is an error instead of a new, empty store."""
    try:
        url = make_url(db)
    except ArgumentError as exc:
        raise UserError(
            f"--db {db!r} is not a database URL (sqlite:///FILE or postgresql://USER@HOST/DB)"
        ) from exc
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise UserError(f"--db {db!r}: only sqlite and postgresql stores are supported")
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise UserError(f"--db {db!r} names no file (sqlite:///path/to/store.sqlite3)")
        file = Path(url.database)
        if not file.parent.is_dir():
            raise UserError(f"--db {db!r}: the directory {file.parent} does not exist")
        if existing and not file.is_file():
            raise UserError(f"--db {db!r}: there is no store at {file}")
    return db


def manifest_store(manifest: Path | None, db: str) -> str:
    """The store a sandbox manifest names (`provider.db`), or `db` without a manifest."""
    if manifest is None:
        return db
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        found = data["provider"]["db"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"{manifest} is not a sandbox manifest naming its provider's store"
        ) from exc
    return str(found)


@options("serve provider", db=DEFAULT_DB)
def serve_provider(
    host: str,
    port: int,
    request_head_timeout: float | None,
    request_body_timeout: float | None,
    db: str,
    workers: int,
    jwks_url: str | None,
    issuer: str | None,
    auth_mode: AuthMode | None,
    no_auth: bool,
    public_base_url: str | None,
    availability: Path | None,
    horizon: int,
    access_log: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    behind_tls_proxy: bool,
) -> None:
    """Serve the provider FHIR API (migrates the database first)."""
    check_tls_pair(tls_cert, tls_key)
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
    if behind_tls_proxy and not (public_base_url or "").startswith("https://"):
        # Behind the proxy the provider's own address is not what consumers reach, and every
        # URL in its answers (and each token's aud) comes from the public base URL.
        raise typer.BadParameter(
            "--behind-tls-proxy needs --public-base-url https://… (the URL consumers use)",
            param_hint="--behind-tls-proxy",
        )
    base = public_base_url or f"{'https' if tls_cert else 'http'}://{host}:{port}/fhir"
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
    # Checked here, so a bad value is one sentence; each worker reads them again on import.
    timeouts = RequestTimeouts.from_env(request_head_timeout, request_body_timeout)
    env[HEAD_TIMEOUT_ENV] = str(timeouts.head)
    env[BODY_TIMEOUT_ENV] = str(timeouts.body)
    if workers > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        env["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir()
    os.environ.update(env)
    from uec_booking.provider.ops_cli import prepare_database

    prepare_database(store_url(db, existing=False))
    typer.echo(
        f"provider FHIR API on {base} (store {make_url(db).render_as_string(hide_password=True)}, "
        f"auth {mode.value}); starting {workers} worker(s)"
    )
    _announce_when_ready(host, port, base, tls=tls_cert is not None)
    uvicorn.run(
        "uec_booking.provider.asgi:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        # uvicorn's own request log (ours is UEC_ACCESS_LOG): off, not filtered per request.
        access_log=False,
        timeout_graceful_shutdown=10,
        http=protocol_for(timeouts) if workers == 1 else "uec_booking.asgi_server:ProtocolFromEnv",
        **_tls_options(tls_cert, tls_key, tls_client_ca, behind_tls_proxy),
    )


def _announce_when_ready(
    host: str, port: int, base: str, *, tls: bool, timeout: float = 120.0
) -> None:
    """Say "ready" once `/_health` answers (uvicorn itself is told to be quiet). Under TLS,
    once a worker completes a TLS handshake: a worker serves only once its app has started,
    and with `--tls-client-ca` this process has no certificate to get further with."""
    import socket
    import ssl
    import threading
    import time

    import httpx

    def answers() -> bool:
        if not tls:
            try:
                return httpx.get(f"http://{host}:{port}/_health", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.check_hostname = False  # our own socket: only whether it answers matters
        probe.verify_mode = ssl.CERT_NONE
        try:
            with (
                socket.create_connection((host, port), timeout=1.0) as sock,
                probe.wrap_socket(sock),
            ):
                return True
        except ssl.SSLError:
            return True  # a worker answered the handshake, refusing us (no client certificate)
        except OSError:
            return False  # not listening yet, or no worker took the connection in time

    def poll() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if answers():
                typer.echo(f"ready: {base}", err=True)
                return
            time.sleep(0.1)

    threading.Thread(target=poll, name="ready-announcer", daemon=True).start()


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


def _tls_options(
    cert: Path | None, key: Path | None, client_ca: Path | None, behind_proxy: bool
) -> dict[str, Any]:
    """uvicorn's TLS options: HTTPS with HSTS (the SSP guide: HSTS SHALL be employed), and
    with `client_ca` a client certificate from it required in the handshake; behind a TLS
    proxy, plain HTTP with HSTS for the proxy to pass on."""
    import ssl

    from uec_booking.asgi_server import HSTS

    options: dict[str, Any] = {}
    if cert and key:
        options |= {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        if client_ca:
            options |= {"ssl_ca_certs": str(client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    if cert or behind_proxy:
        options["headers"] = [("strict-transport-security", HSTS)]
    # No forwarded headers are trusted: the answers' URLs come from the public base URL, and
    # nothing the provider decides reads the client's address or scheme.
    return options


SEED_PROGRESS_LINES = 10  # about this many "seeding: day N of M" lines, however many days


@options("seed", db=DEFAULT_DB)
def seed(
    db: str,
    days: int,
    from_file: Path | None,
    healthcare_service: str | None,
    directory_file: Path | None,
) -> None:
    """Load the sample services and generate slots (or import a Bundle). Idempotent."""
    from uec_booking.provider.bundle_import import import_bundle
    from uec_booking.provider.seed import seed as seed_store

    upgrade(store_url(db, existing=False))

    async def run() -> None:
        store = Store(db)
        try:
            if from_file:
                bundle = _read_json(from_file, "a FHIR Bundle")
                report = await import_bundle(store, bundle, healthcare_service=healthcare_service)
            else:
                if directory_file:
                    _read_json(directory_file, "a sample directory")
                sample = sample_data.load(str(directory_file) if directory_file else None)
                today = datetime.now(UTC).date()
                try:
                    report = await seed_store(
                        store, sample, first_day=today, days=days, on_progress=progress
                    )
                except (KeyError, TypeError) as exc:
                    raise UserError(
                        f"{directory_file or 'the sample directory'} lacks a field the seed "
                        f"needs ({exc}); see src/uec_booking/data/sample_directory.json"
                    ) from exc
        finally:
            await store.dispose()
        typer.echo(
            f"seeded: {report.resources_written} directory resources written, "
            f"{report.slots_added} slots added, {report.slots_total} slots stored"
        )

    from rich.console import Console

    from uec_booking.fhir.errors import FhirError

    started = time.monotonic()
    what = f"importing {from_file}" if from_file else f"seeding {days} day(s) of slots"
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    step = max(1, days // SEED_PROGRESS_LINES)

    def progress(done: int, total: int, added: int) -> None:
        """A line every `step` days and at the last (a handful, however long the seed)."""
        if done % step == 0 or done == total:
            console.print(f"seeding: day {done} of {total}, {added} slots added")

    with console.status(f"{what} into {make_url(db).render_as_string(hide_password=True)}…"):
        try:
            asyncio.run(run())
        except FhirError as exc:  # a bad file: one sentence, nothing written
            typer.echo(f"error: {exc.diagnostics}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"done in {time.monotonic() - started:.1f} s", err=True)


@options("audit", db=DEFAULT_DB)
def audit(
    db: str,
    manifest: Path | None,
    since: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """Show the provider's audit trail: who booked or cancelled what, when, and how it ended."""
    from rich.console import Console
    from rich.table import Table

    from uec_booking.provider.store.audit import events

    db = store_url(manifest_store(manifest, db), existing=True)
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
