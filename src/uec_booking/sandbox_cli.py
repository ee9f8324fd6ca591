"""`uec-booking serve sandbox`: every service on loopback until SIGTERM/SIGINT."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from uec_booking.sandbox import Sandbox


def serve_sandbox(
    host: Annotated[str, typer.Option(envvar="UEC_HOST")] = "127.0.0.1",
    base_port: Annotated[
        int,
        typer.Option(
            envvar="UEC_BASE_PORT",
            help="SSP on +10, provider +20, auth +30, PDS +40, DoS +50, SDS +389; 0 = any free ports",
        ),
    ] = 8000,
    ports_file: Annotated[
        Path | None, typer.Option(help="Write the manifest (JSON) here once all are listening")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", envvar="UEC_DB_URL", help="Provider store (default: temp SQLite)"),
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=60, help="Days of slots to generate")] = 7,
    slapd: Annotated[bool, typer.Option("--slapd", help="Serve SDS from OpenLDAP slapd")] = False,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls/--plain",
            envvar="UEC_TLS",
            help="TLS with a sandbox CA on every hop (default); --plain (UEC_TLS=0) for debugging",
        ),
    ] = True,
) -> None:
    """Run PDS, DoS, SDS, NHS auth, the SSP and a seeded provider on loopback."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sandbox = Sandbox(
        host=host, base_port=base_port or None, db_url=db, days=days, slapd=slapd, tls=tls
    )
    manifest = sandbox.start()
    try:
        typer.echo(json.dumps(manifest, indent=2))
        if ports_file:
            sandbox.write_manifest(ports_file)
            typer.echo(f"manifest written to {ports_file}", err=True)
        typer.echo("sandbox running; Ctrl-C or SIGTERM stops it", err=True)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        if ports_file and ports_file.exists():
            ports_file.unlink()
