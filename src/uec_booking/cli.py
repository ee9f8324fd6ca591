"""The `uec-booking` command: servers, seeding, the consumer flow and the demo."""

from __future__ import annotations

import logging

import typer

from uec_booking import demo as demo_module
from uec_booking import report_cli, sandbox_cli
from uec_booking.console import cli as console_cli
from uec_booking.consumer import cli as consumer_cli
from uec_booking.consumer import golive
from uec_booking.consumer.keys_cli import keys_app
from uec_booking.provider import cli as provider_cli
from uec_booking.spine import cli as spine_cli

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
serve_app = typer.Typer(no_args_is_help=True, help="Run one of the servers.")
app.add_typer(serve_app, name="serve")

serve_app.command("provider")(provider_cli.serve_provider)
serve_app.command("sandbox")(sandbox_cli.serve_sandbox)
serve_app.command("auth")(spine_cli.serve_auth)
serve_app.command("pds")(spine_cli.serve_pds)
serve_app.command("dos")(spine_cli.serve_dos)
serve_app.command("sds")(spine_cli.serve_sds)
serve_app.command("ssp")(spine_cli.serve_ssp)
serve_app.command("console")(console_cli.serve_console)
app.command("seed")(provider_cli.seed)
app.command("audit")(provider_cli.audit)
app.command("book")(consumer_cli.book)
app.command("slots")(consumer_cli.slots)
app.command("cancel")(consumer_cli.cancel)
app.command("demo")(demo_module.demo)
app.command("report")(report_cli.report)
app.command("check-config")(golive.check_config)
app.add_typer(keys_app, name="keys")


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more")) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def version() -> None:
    """Print the version."""
    from uec_booking import __version__

    typer.echo(__version__)
