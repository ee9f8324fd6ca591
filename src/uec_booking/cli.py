"""The `uec-booking` command: servers, seeding, the consumer flow and the demo."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
serve_app = typer.Typer(no_args_is_help=True, help="Run one of the servers.")
app.add_typer(serve_app, name="serve")


@app.command()
def version() -> None:
    """Print the version."""
    from uec_booking import __version__

    typer.echo(__version__)
