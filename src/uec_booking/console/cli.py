"""`uec-booking serve console`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from uec_booking.asgi_server import RequestTimeouts, serve
from uec_booking.cli_options import options
from uec_booking.console.app import Console, create_app
from uec_booking.console.settings import ConsoleSettings
from uec_booking.consumer.config import load_config
from uec_booking.consumer.errors import ConsumerError
from uec_booking.consumer.journal import Journal


def _manifest_identity(config: Path | None) -> dict[str, Any]:
    """The sandbox manifest's identity provider, when --config is a manifest."""
    if config is None or config.suffix != ".json":
        return {}
    try:
        found = json.loads(config.read_text(encoding="utf-8")).get("identity", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return found if isinstance(found, dict) else {}


@options("serve console")
def serve_console(
    config: Path | None,
    host: str,
    port: int,
    db: str | None,
    oidc_issuer: str | None,
    oidc_client_id: str | None,
    oidc_client_secret: str | None,
    public_url: str | None,
    session_secret: str | None,
    request_head_timeout: float | None,
    request_body_timeout: float | None,
) -> None:
    """The booking console: call-handler pages, the provider's diary, reports."""
    try:
        settings = load_config(config)
    except (ValidationError, ValueError, OSError, ConsumerError) as exc:
        missing = (
            sorted(str(e["loc"][0]) for e in exc.errors() if e["loc"])
            if isinstance(exc, ValidationError)
            else []
        )
        reason = f"missing or wrong: {', '.join(missing)}" if missing else str(exc).splitlines()[0]
        typer.echo(
            f"error: serve console needs the consumer configuration (--config F, a TOML file or the "
            f"sandbox manifest): {reason}",
            err=True,
        )
        raise typer.Exit(2) from None
    found = _manifest_identity(config)
    issuer = oidc_issuer or found.get("issuer")
    client_id = oidc_client_id or found.get("console_client_id")
    secret = oidc_client_secret or found.get("console_client_secret")
    if not (issuer and client_id and secret):
        typer.echo(
            "error: serve console needs an identity provider: --oidc-issuer, --oidc-client-id and "
            "--oidc-client-secret (or a sandbox manifest as --config)",
            err=True,
        )
        raise typer.Exit(2)
    console_settings = ConsoleSettings(
        oidc_issuer=issuer,
        oidc_client_id=client_id,
        oidc_client_secret=secret,
        public_url=public_url or f"http://{host}:{port}",
        provider_db=db,
    )
    if session_secret:
        console_settings = replace(console_settings, session_secret=session_secret)
    timeouts = RequestTimeouts.from_env(request_head_timeout, request_body_timeout)
    journal = Journal(settings.journal_db) if settings.journal_db else None
    typer.echo(f"booking console on {console_settings.public_url}")
    serve(
        create_app(Console(settings, journal, console_settings)),
        host=host,
        port=port,
        timeouts=timeouts,
    )
