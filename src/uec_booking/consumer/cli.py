"""`uec-booking book`, `slots` and `cancel`: the consumer flow from a terminal."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from uec_booking.cli_options import options
from uec_booking.consumer.config import load_config
from uec_booking.consumer.errors import ConfigError, ConsumerError
from uec_booking.consumer.events import SlotGone, StepFailed, WorkflowEvent
from uec_booking.consumer.journal import Journal, JourneyRecorder
from uec_booking.consumer.request import BookingRequest, BookingResult
from uec_booking.consumer.wiring import build_workflow
from uec_booking.fhir.interactions import Interaction

T = TypeVar("T")


def answer(work: Coroutine[Any, Any, T], *, as_json: bool) -> T:
    """What `work` gives; a ConsumerError is said (`{"error": …}` with --json) and exits 1."""
    try:
        return asyncio.run(work)
    except ConsumerError as exc:
        typer.echo(json.dumps({"error": str(exc)}) if as_json else f"error: {exc}", err=not as_json)
        raise typer.Exit(1) from exc


def booking_reference(provider_asid: str, appointment_id: str) -> str:
    """What `book` prints and `cancel --booking` takes: the provider system's ASID (from
    which SDS gives the endpoint for any interaction) and the Appointment id."""
    return f"{provider_asid}:{appointment_id}"


def parse_booking_reference(reference: str) -> tuple[str, str]:
    asid, sep, appointment_id = reference.partition(":")
    if not (sep and asid.isdigit() and appointment_id):
        raise ConfigError(
            f"booking reference {reference!r} is not ASID:APPOINTMENT_ID (as `book` prints it)"
        )
    return asid, appointment_id


def result_json(result: BookingResult) -> dict[str, Any]:
    if result.appointment is None:
        return {
            "error": result.error,
            "trace_id": result.trace_id,
            "referral_only": [{"id": s.id, "name": s.name} for s in result.referral_only],
        }
    return {
        "appointment_id": result.appointment.id,
        "slot_id": result.appointment.slot_id,
        "start": result.appointment.start.isoformat(),
        "service_id": result.service.id if result.service else None,
        "service": result.service.name if result.service else None,
        "provider_url": result.provider_url,
        "provider_asid": result.provider_asid,
        "trace_id": result.trace_id,
        "location": result.appointment.location_url,
        "booking_reference": booking_reference(result.provider_asid or "", result.appointment.id),
    }


def print_event(console: Console, event: WorkflowEvent) -> None:
    style = "red" if isinstance(event, StepFailed | SlotGone) else "green"
    console.print(f"[{style}]•[/] {event.describe()}")


def print_result(console: Console, result: BookingResult) -> None:
    if result.appointment is None:
        console.print(f"[bold red]No appointment booked:[/] {result.error}")
        return
    a = result.appointment
    console.print(
        f"[bold green]Appointment {a.id}[/] at {result.service.name if result.service else '?'}, "
        f"{a.start:%A %d %B %H:%M %Z} (slot {a.slot_id}, trace {result.trace_id})"
    )
    console.print(f"Booking reference: {booking_reference(result.provider_asid or '', a.id)}")


@options("book")
def book(
    nhs_number: str,
    config: Path | None,
    postcode: str | None,
    location_postcode: str | None,
    disposition: str,
    symptom_group: int,
    when: datetime | None,
    within_hours: int,
    description: str,
    service: str | None,
    slot: str | None,
    as_json: bool,
) -> None:
    """Run the whole consumer flow and book the patient into the first suitable free slot
    (or the service and slot given)."""
    if slot and not service:
        raise typer.BadParameter("--slot needs --service (the slot's DoS service)")
    settings = load_config(config)
    console = Console(stderr=as_json)
    workflow = build_workflow(settings)
    now = datetime.now(UTC)
    earliest = max(when.replace(tzinfo=UTC), now) if when else now
    request = BookingRequest(
        nhs_number=nhs_number,
        postcode=postcode,
        location_postcode=location_postcode,
        disposition=disposition,
        symptom_group=symptom_group,
        earliest=earliest,
        latest=earliest + timedelta(hours=within_hours),
        description=description,
        service_id=service,
        slot_id=slot,
    )
    trace_id = str(uuid.uuid4())
    request = dataclasses.replace(request, trace_id=trace_id)
    journal = Journal(settings.journal_db) if settings.journal_db else None
    recorder = (
        JourneyRecorder(journal, trace_id=trace_id, disposition=disposition) if journal else None
    )

    def on_event(event: WorkflowEvent) -> None:
        print_event(console, event)
        if recorder is not None:
            recorder(event)

    try:
        result = asyncio.run(workflow.run(request, on_event=on_event))
    finally:
        if journal is not None:
            journal.close()
    if as_json:
        typer.echo(json.dumps(result_json(result)))
    else:
        print_result(console, result)
    raise typer.Exit(0 if result.appointment else 1)


@options("slots")
def slots(
    service: str,
    config: Path | None,
    within_hours: int,
    as_json: bool,
) -> None:
    """List the free slots of a service without booking (DoS → SDS → token → SSP search)."""
    settings = load_config(config)
    workflow = build_workflow(settings)

    async def run() -> list[Any]:
        details = await workflow.dos.service_details_by_id(service)
        if len(details.booking_asids) != 1:
            raise ConsumerError(
                f"{details.name} has {len(details.booking_asids)} booking ASIDs: no bookable endpoint"
            )
        asid = details.booking_asids[0]
        endpoint = await workflow.sds.endpoint_for(asid, Interaction.READ_SLOT)
        now = datetime.now(UTC)
        return await workflow.provider.search_free_slots(
            endpoint=endpoint,
            to_asid=asid,
            healthcare_service_id=service,
            start=now,
            end=now + timedelta(hours=within_hours),
            trace_id=str(uuid.uuid4()),
        )

    found = answer(run(), as_json=as_json)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "slot_id": s.id,
                        "start": s.start.isoformat(),
                        "end": s.end.isoformat(),
                        "practitioner": s.practitioner,
                        "location": s.location,
                    }
                    for s in found
                ]
            )
        )
        return
    console = Console()
    for s in found:
        console.print(
            f"{s.start:%a %d %b %H:%M}-{s.end:%H:%M}  {s.practitioner or '':<22} {s.location or ''}  [dim]{s.id}[/]"
        )
    console.print(f"{len(found)} free slots")


@options("cancel")
def cancel(
    booking: str | None,
    appointment_id: str | None,
    provider_url: str | None,
    provider_asid: str | None,
    config: Path | None,
    as_json: bool,
) -> None:
    """Cancel an appointment this consumer booked (PUT status cancelled via the SSP); frees the slot.

    Give the booking reference (`--booking ASID:ID`; the endpoint then comes from SDS), or
    `--appointment`, `--provider-url` and `--provider-asid`."""
    if booking is not None:
        provider_asid, appointment_id = parse_booking_reference(booking)
    elif not (appointment_id and provider_url and provider_asid):
        raise typer.BadParameter(
            "give --booking ASID:ID, or all of --appointment, --provider-url and --provider-asid"
        )
    settings = load_config(config)
    workflow = build_workflow(settings)
    trace_id = str(uuid.uuid4())

    async def run(asid: str, appointment: str) -> dict[str, Any]:
        endpoint = provider_url or await workflow.sds.endpoint_for(
            asid, Interaction.UPDATE_APPOINTMENT
        )
        return await workflow.provider.cancel(
            endpoint=endpoint, to_asid=asid, appointment_id=appointment, trace_id=trace_id
        )

    assert provider_asid is not None and appointment_id is not None
    cancelled = answer(run(provider_asid, appointment_id), as_json=as_json)
    if settings.journal_db:
        journal = Journal(settings.journal_db)
        journal.record(trace_id, "cancelled", appointment_id=appointment_id)
        journal.close()
    version = cancelled.get("meta", {}).get("versionId")
    typer.echo(
        json.dumps(
            {
                "appointment_id": appointment_id,
                "status": cancelled.get("status"),
                "version": version,
            }
        )
        if as_json
        else f"Appointment {appointment_id} cancelled (version {version})"
    )
