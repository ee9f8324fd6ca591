"""`uec-booking demo`: the whole standard on loopback, one booking end to end, then the
standard's race: a slot taken between search and booking answers 422 and the consumer books
the next free one."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel

from uec_booking.cli_options import options
from uec_booking.consumer.cli import print_event, print_result
from uec_booking.consumer.config import from_manifest, load_config
from uec_booking.consumer.request import BookingRequest, BookingResult
from uec_booking.consumer.wiring import build_workflow
from uec_booking.consumer.workflow import BookingWorkflow
from uec_booking.sandbox import Sandbox


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _request(patient: dict[str, Any], **choices: Any) -> BookingRequest:
    """The call handler's request for one of the sandbox's patients."""
    return BookingRequest(nhs_number=patient["nhs_number"], postcode=patient["postcode"], **choices)


def _scene(
    console: Console, workflow: BookingWorkflow, title: str, request: BookingRequest
) -> BookingResult:
    """One booking of the demo, every step printed as it happens, and how long it took."""
    console.rule(title)
    started = time.perf_counter()
    result = asyncio.run(workflow.run(request, on_event=lambda e: print_event(console, e)))
    print_result(console, result)
    console.print(f"[dim]{time.perf_counter() - started:.2f}s[/]")
    return result


@options("demo")
def demo(
    days: int,
    wait: bool | None,
    tls: bool,
) -> None:
    """Start every service on free loopback ports, book one appointment end to end, show the 422 path."""
    console = Console()
    started = time.perf_counter()
    # SIGTERM unwinds like Ctrl-C, so the sandbox stops its child processes and removes its
    # temporary files instead of leaving them behind.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with Sandbox(days=days, tls=tls) as manifest:
        console.print(
            Panel.fit(
                "\n".join(
                    f"{name:<9} {info.get('url') or info.get('wsdl') or info.get('token_url')}"
                    for name, info in manifest.items()
                    if isinstance(info, dict) and name != "tls"
                ),
                title=f"Sandbox up in {time.perf_counter() - started:.1f}s",
            )
        )
        config = load_config(**from_manifest(manifest))
        workflow = build_workflow(config)
        patients = manifest["patients"]
        now = datetime.now(UTC)
        latest = now + timedelta(hours=24 * days)

        first = _scene(
            console,
            workflow,
            f"1. Book {patients[0]['name']} ({patients[0]['nhs_number']})",
            _request(patients[0], earliest=now, latest=latest),
        )
        if first.appointment is None or first.slot is None:
            raise typer.Exit(1)
        second = _scene(
            console,
            workflow,
            f"2. {patients[1]['name']}: the call handler picked the same slot from an earlier list",
            _request(patients[1], earliest=now, latest=latest, preferred_slot=first.slot),
        )
        if second.appointment is None or second.appointment.slot_id == first.appointment.slot_id:
            raise typer.Exit(1)
        console.print(f"[bold]Demo finished in {time.perf_counter() - started:.1f}s[/]")
        console.print(
            f"Booking console: [bold]{manifest['console']['url']}[/] (book, cancel, rebook; reports)"
        )
        if wait if wait is not None else sys.stdin.isatty():
            console.print("Everything stays up for you to try: Ctrl-C stops it.")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                console.print("stopping")
