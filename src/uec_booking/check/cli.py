"""`uec-booking check provider URL` and `uec-booking check consumer`."""

from __future__ import annotations

import asyncio
import contextlib
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from uec_booking.check.model import Report
from uec_booking.check.report import render
from uec_booking.cli_options import options

app = typer.Typer(no_args_is_help=True, help="Conformance checks of the UEC Appointments standard.")


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    junit = "junit"
    html = "html"


class AuthChoice(StrEnum):
    interim = "interim"
    signed = "signed"
    none = "none"


def emit(
    report: Report, fmt: ReportFormat, output: Path | None, *, show_sent: bool = False
) -> None:
    console = Console(width=200) if output is None else Console(stderr=True)
    text = render(report, fmt.value, console, show_sent=show_sent)
    if text is not None:
        if output is None:
            typer.echo(text)
        else:
            output.write_text(text, encoding="utf-8")
    elif output is not None:
        output.write_text(render(report, "json", console) or "", encoding="utf-8")
    if not report.passed:
        raise typer.Exit(1)


@app.command("provider")
@options("check provider")
def provider(
    url: str,
    auth: AuthChoice,
    service: str,
    token_url: str | None,
    client_id: str | None,
    client_secret: str | None,
    limited_client_id: str | None,
    limited_client_secret: str | None,
    from_asid: str,
    to_asid: str,
    consumer_ods: str,
    ca_file: str | None,
    cert_file: str | None,
    key_file: str | None,
    ssp_url: str | None,
    case: list[str],
    fmt: ReportFormat,
    output: Path | None,
    dry_run: bool,
    show_sent: bool,
    timeout: float,
) -> None:
    """Run the test kit's chains and the provider assurance scripts against a provider.

    Books only into Slots it found free and cancels what it booked; exits 1 on any failure.
    """
    from uec_booking.check.provider import case_ids, run_provider_checks
    from uec_booking.check.wire import Target

    unknown = sorted(set(case) - set(case_ids()))
    if unknown:
        raise typer.BadParameter(f"unknown case id(s): {', '.join(unknown)}", param_hint="--case")
    try:
        target = Target(
            base_url=url,
            service=service,
            auth=auth.value,
            token_url=token_url,
            client_id=client_id,
            client_secret=client_secret,
            limited_client_id=limited_client_id,
            limited_client_secret=limited_client_secret,
            from_asid=from_asid,
            to_asid=to_asid,
            consumer_ods=consumer_ods,
            ssp_url=ssp_url,
            dry_run=dry_run,
            timeout=timeout,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
        )
        report = asyncio.run(run_provider_checks(target, only=case or None))
    except ValueError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    emit(report, fmt, output, show_sent=show_sent)


@app.command("consumer")
@options("check consumer")
def consumer(
    ports_file: Path,
    host: str,
    self_test: bool,
    fmt: ReportFormat,
    output: Path | None,
) -> None:
    """Start the sandbox in assurance mode, let the consumer under test drive the journeys
    it lists, then grade every request it made; exits 1 on any failure."""
    from uec_booking.check.consumer import JOURNEYS, AssuranceSandbox, drive_own_consumer

    console = Console(stderr=True)
    assurance = AssuranceSandbox(host=host)
    try:
        manifest = assurance.start()
        assurance.write_manifest(ports_file)
        console.print(f"Assurance sandbox up; point the consumer under test at {ports_file}")
        console.print(f"  SSP {manifest['ssp']['url']}   DoS {manifest['dos']['wsdl']}")
        for journey in JOURNEYS:
            console.print(
                f"  {journey.journey_id}: NHS number {journey.nhs_number}, "
                f"postcode {journey.postcode}: {journey.what}"
            )
        if self_test:
            for line in drive_own_consumer(manifest):
                console.print(f"  self-test {line}")
        else:
            console.print("Drive each journey, then press Enter to grade (Ctrl-D also grades).")
            with contextlib.suppress(EOFError, KeyboardInterrupt):
                input()
        report = assurance.report()
    finally:
        assurance.stop()
    emit(report, fmt, output)
