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
def provider(
    url: str = typer.Argument(..., help="The provider's FHIR base URL, e.g. https://host/fhir"),
    auth: AuthChoice = typer.Option(
        AuthChoice.interim,
        envvar="UEC_CHECK_AUTH",
        help="interim: build unsigned tokens; signed: client credentials",
    ),
    service: str = typer.Option(
        "2000100001",
        envvar="UEC_CHECK_SERVICE",
        help="DoS id of a HealthcareService with free slots",
    ),
    token_url: str | None = typer.Option(
        None, envvar="UEC_AUTH_TOKEN_URL", help="signed: the token endpoint"
    ),
    client_id: str | None = typer.Option(None, envvar="UEC_CLIENT_ID", help="signed: client id"),
    client_secret: str | None = typer.Option(
        None, envvar="UEC_CLIENT_SECRET", help="signed: client secret"
    ),
    limited_client_id: str | None = typer.Option(
        None,
        envvar="UEC_CHECK_LIMITED_CLIENT_ID",
        help="signed mode: a client for slot search only",
    ),
    limited_client_secret: str | None = typer.Option(
        None, envvar="UEC_CHECK_LIMITED_CLIENT_SECRET", help="... and its secret"
    ),
    from_asid: str = typer.Option("200000000201", envvar="UEC_CONSUMER_ASID", help="Ssp-From"),
    to_asid: str = typer.Option("200000000101", envvar="UEC_CHECK_PROVIDER_ASID", help="Ssp-To"),
    consumer_ods: str = typer.Option(
        "X26CN1", envvar="UEC_CONSUMER_ODS", help="the ODS code interim tokens name"
    ),
    ca_file: str | None = typer.Option(
        None, envvar="UEC_TLS_CA_FILE", help="CA of the provider's (or SSP's) certificate"
    ),
    cert_file: str | None = typer.Option(
        None, envvar="UEC_TLS_CERT_FILE", help="client certificate to present (TLS-MA)"
    ),
    key_file: str | None = typer.Option(None, envvar="UEC_TLS_KEY_FILE", help="... its key"),
    ssp_url: str | None = typer.Option(None, envvar="UEC_SSP_URL", help="send through this SSP"),
    case: list[str] = typer.Option([], "--case", help="run only these case ids (repeatable)"),
    fmt: ReportFormat = typer.Option(ReportFormat.table, "--format", help="report format"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write the report here"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would be sent; send nothing"),
    show_sent: bool = typer.Option(False, "--show-sent", help="table: every request and status"),
    timeout: float = typer.Option(30.0, envvar="UEC_TIMEOUT", help="seconds per request"),
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
def consumer(
    ports_file: Path = typer.Option(
        Path("assurance-sandbox.json"),
        envvar="UEC_CHECK_PORTS_FILE",
        help="where the manifest for the consumer under test is written",
    ),
    host: str = typer.Option("127.0.0.1", envvar="UEC_HOST"),
    self_test: bool = typer.Option(
        False, "--self-test", help="drive the journeys with our own consumer"
    ),
    fmt: ReportFormat = typer.Option(ReportFormat.table, "--format", help="report format"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write the report here"),
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
