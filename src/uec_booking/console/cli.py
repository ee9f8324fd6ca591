"""`uec-booking serve console`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from uec_booking.console.app import Console, create_app
from uec_booking.consumer.config import load_config
from uec_booking.consumer.journal import Journal


def serve_console(
    config: Annotated[
        Path | None,
        typer.Option(exists=True, envvar="UEC_CONFIG", help="TOML config or sandbox manifest"),
    ] = None,
    host: Annotated[str, typer.Option(envvar="UEC_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="UEC_PORT")] = 8060,
    db: Annotated[
        str | None,
        typer.Option("--db", envvar="UEC_DB_URL", help="Provider store, for the provider diary"),
    ] = None,
) -> None:
    """The booking console: call-handler pages, the provider's diary, reports."""
    settings = load_config(config)
    journal = Journal(settings.journal_db) if settings.journal_db else None
    typer.echo(f"booking console on http://{host}:{port}")
    uvicorn.run(
        create_app(Console(settings, journal, db)),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
