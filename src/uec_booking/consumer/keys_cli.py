"""`uec-booking keys`: the consumer's key pair for the NHS API platform (PDS).

The platform authenticates the application by a JWT signed with its private key (RS512);
it checks the signature against the public keys the application registered, as a JWKS
(inline with the onboarding team, or at a JWKS URL the consumer serves).

    uec-booking keys new --out pds-int-1.pem          # a new private key (mode 0600)
    uec-booking keys jwks --key pds-int-1.pem --kid int-1 > jwks.json   # what to register
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from uec_booking.cli_options import options
from uec_booking.consumer.errors import AuthError
from uec_booking.consumer.platform_auth import load_private_key, new_private_key_pem, public_jwks

keys_app = typer.Typer(no_args_is_help=True, help=__doc__)


@keys_app.command("new")
@options("keys new")
def new_key(out: Path) -> None:
    """Write a new 4096-bit RSA private key (readable by its owner only)."""
    if out.exists():
        typer.echo(f"{out} exists already: not overwritten.", err=True)
        raise typer.Exit(1)
    out.touch(mode=0o600)
    out.write_bytes(new_private_key_pem())
    typer.echo(f"Private key written to {out}; keep it secret. Register its JWKS (keys jwks).")


@keys_app.command("jwks")
@options("keys jwks")
def jwks(key: Path, kid: str) -> None:
    """Print the public JWKS of a private key: what to register with the NHS API platform."""
    try:
        private = load_private_key(key)
    except AuthError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(public_jwks(private, kid), indent=2))
