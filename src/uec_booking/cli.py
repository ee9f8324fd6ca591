"""The `uec-booking` command: servers, seeding, the consumer flow and the demo."""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

import typer
import typer.main
from typer._click import exceptions as click_errors  # typer's own click: the errors it raises

from uec_booking import demo as demo_module
from uec_booking import report_cli, sandbox_cli
from uec_booking.check import cli as check_cli
from uec_booking.cli_errors import EXIT_USER_ERROR, explain
from uec_booking.cli_options import DECLARED, entry
from uec_booking.console import cli as console_cli
from uec_booking.consumer import cli as consumer_cli
from uec_booking.consumer import golive
from uec_booking.consumer.keys_cli import keys_app
from uec_booking.provider import cli as provider_cli
from uec_booking.provider import ops_cli as provider_ops_cli
from uec_booking.spine import cli as spine_cli

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help=__doc__,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no type labels on flags
)
serve_app = typer.Typer(no_args_is_help=True, help="Run one of the servers.", rich_markup_mode=None)
app.add_typer(serve_app, name="serve")
app.add_typer(check_cli.app, name="check")

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
app.add_typer(provider_ops_cli.availability_app, name="availability")
app.add_typer(provider_ops_cli.slots_app, name="provider-slots")
app.add_typer(provider_ops_cli.db_app, name="db")


_debug = {"on": os.environ.get("UEC_DEBUG", "") not in ("", "0")}


def _print_version(value: bool) -> None:
    if value:
        from uec_booking import __version__

        typer.echo(f"uec-booking {__version__}")
        raise typer.Exit()


@app.callback()
def callback(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more"),
    debug: bool = typer.Option(
        False, "--debug", envvar="UEC_DEBUG", help="Show the traceback when a command fails"
    ),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version"
    ),
) -> None:
    _debug["on"] = debug
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def version() -> None:
    """Print the version."""
    _print_version(True)


BARE_TYPES = {"str", "int", "float", "path", "file", "directory"}


def command() -> Any:
    """The click command tree, with every option's value named after the option (`--db URL`,
    `--nhs-number NHS_NUMBER`) where its declaration gives no better name than its type."""
    root = typer.main.get_command(app)
    pending: list[Any] = [root]
    while pending:
        node = pending.pop()
        pending.extend(getattr(node, "commands", {}).values())
        for argument in node.params:
            if argument.param_type_name == "argument" and argument.metavar is None:
                argument.metavar = (argument.name or "value").upper()
        options: list[Any] = [p for p in node.params if p.param_type_name == "option"]
        for param in options:
            if getattr(param, "is_flag", False):
                continue
            if param.metavar is None and param.display_type(None).strip("<>") in BARE_TYPES:
                param.metavar = (param.name or "value").upper()
    return root


def _declared(exc: click_errors.UsageError) -> str | None:
    """A bad value for an option declared with a range or date formats, said from its
    declaration: `--days must be a whole number from 1 to 366`, `--from takes a date …`."""
    param, ctx = getattr(exc, "param", None), exc.ctx
    if not isinstance(exc, click_errors.BadParameter) or isinstance(
        exc, click_errors.MissingParameter
    ):
        return None
    if param is None or ctx is None or not param.name:
        return None
    name = ctx.command_path.partition(" ")[2]
    if param.name not in DECLARED["command"].get(name, {}):
        return None
    declared = entry(name, param.name)
    flag = max(param.opts, key=len) if param.opts else f"--{param.name}"
    if "formats" in declared:
        given = re.search(r"'([^']*)' does not match", exc.format_message())
        got = f" (got {given[1]!r})" if given else ""
        form = declared.get("metavar", "YYYY-MM-DD")
        return f"{flag} takes a date as {form}, like 2026-12-02 or 2026-12-02T09:30{got}"
    low, high = declared.get("min"), declared.get("max")
    if low is None:
        return None
    whole = isinstance(low, int) and isinstance(high, int | None)
    what = "a whole number" if whole else "a number"
    return f"{flag} must be {what} " + (f"from {low} to {high}" if high else f"of {low} or more")


def usage_sentence(exc: click_errors.ClickException) -> str:
    """A mistake in the command line itself (an unknown option, a bad value): one line, which
    names the option and where the help is, instead of click's usage block."""
    text = exc.format_message().replace("Value error, ", "").strip()
    if isinstance(exc, click_errors.UsageError):
        text = (_declared(exc) or text).rstrip(".")
        if exc.ctx is not None:
            text += f" (see `{exc.ctx.command_path} --help`)"
    return text


def main() -> None:
    """The console script: an error the user can put right is one sentence and exit 2."""
    try:
        code = command().main(prog_name="uec-booking", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()  # a bare group: its help
        sys.exit(exc.exit_code)
    except click_errors.ClickException as exc:
        typer.echo(f"error: {usage_sentence(exc)}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    except Exception as exc:
        if _debug["on"]:
            raise
        sentence = explain(exc)
        if sentence is None:  # a bug: say so, without burying the message in a traceback
            typer.echo(
                f"error: unexpected {type(exc).__name__}: {exc} (a bug; --debug shows where)",
                err=True,
            )
            sys.exit(1)
        typer.echo(f"error: {sentence}", err=True)
        sys.exit(EXIT_USER_ERROR)
    # Not standalone, click hands back what would have been the exit: the code of a
    # `typer.Exit` (or of `--help`), or the command's own return value (None: success).
    sys.exit(code if isinstance(code, int) else 0)
