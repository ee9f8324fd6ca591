"""The booking workflow of the seed: verify the patient (PDS) → find services (DoS) → the
booking ASID → the endpoint (SDS) → a token → free slots (via the SSP) → book, and on 422
the next free slot. Every step is reported as a typed event; what a journey is asked and
answers (`BookingRequest`, `BookingResult`) is `consumer.request`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from uec_booking.consumer import events, models
from uec_booking.consumer.dos import DosClient
from uec_booking.consumer.errors import (
    AsNotFound,
    ConsumerError,
    NoBookingEndpoint,
    NoEndpoint,
    SdsError,
    ServiceOutage,
    ServiceUnreachable,
    SeveralEndpoints,
    SlotTaken,
)
from uec_booking.consumer.journal import slots_in_time
from uec_booking.consumer.pds import PdsClient
from uec_booking.consumer.provider import ProviderClient
from uec_booking.consumer.request import BookingRequest, BookingResult, case_for
from uec_booking.fhir.interactions import Interaction

SDS_NAME = "SDS (Spine Directory Service)"


class Sds(Protocol):
    """SDS over LDAP (`SdsClient`) or FHIR (`SdsFhirClient`)."""

    async def endpoint_for(
        self, asid: str, interaction: Interaction = Interaction.CREATE_APPOINTMENT
    ) -> str: ...


def _unheard(event: events.WorkflowEvent) -> None:
    """Where events go when nobody listens."""


class BookingWorkflow:
    """The whole booking journey over the wire, from a verified patient to a booked slot.

    workflow = build_workflow(load_config("consumer.toml"))  # uec_booking.consumer.wiring
    result = asyncio.run(workflow.run(BookingRequest(nhs_number="9000000009")))
    print(result.appointment.id if result.appointment else result.error)
    """

    def __init__(
        self,
        *,
        pds: PdsClient,
        dos: DosClient,
        sds: Sds,
        provider: ProviderClient,
        auth_mode: str = "signed",
        max_slot_attempts: int = 3,
    ) -> None:
        self.pds, self.dos, self.sds, self.provider = pds, dos, sds, provider
        self.auth_mode = auth_mode
        self.max_slot_attempts = max_slot_attempts

    async def run(
        self,
        request: BookingRequest,
        on_event: Callable[[events.WorkflowEvent], None] | None = None,
    ) -> BookingResult:
        """Verify, search, resolve the endpoint and book; never raises for a failed step:
        the result carries the appointment or the error, and `on_event` hears every step."""
        emit = on_event or _unheard
        result = BookingResult(trace_id=request.trace_id or str(uuid.uuid4()))
        try:
            # X-Correlation-ID: one per journey.
            patient = await self.verify_patient(request, correlation_id=result.trace_id)
        except ConsumerError as exc:
            emit(events.StepFailed("Patient verification (PDS)", str(exc)))
            result.error = f"Patient not verified: {exc}"
            return result
        emit(events.PatientVerified(patient.nhs_number, " ".join([*patient.given, patient.family])))
        try:
            services = await self.find_services(case_for(request, patient), emit)
        except ConsumerError as exc:
            emit(events.StepFailed("Service search (DoS)", str(exc)))
            result.error = f"DoS search failed: {exc}"
            return result
        if request.service_id is not None:
            services = [s for s in services if s.id == request.service_id]
            if not services:
                result.error = (
                    f"Service {request.service_id} is not among the services DoS returned "
                    "for this patient and disposition"
                )
                emit(events.StepFailed("Service choice", result.error))
                return result
        for service in services:
            try:
                route = await self.booking_route(service, emit)
            except ServiceOutage as exc:
                # Every service's endpoint needs SDS: report the outage, decide nothing.
                emit(events.StepFailed(f"Endpoint lookup for {service.name}", str(exc)))
                result.error = f"{exc}; no booking or referral decision was made"
                result.referral_only.clear()
                return result
            except ConsumerError as exc:
                emit(events.StepFailed(f"Service details for {service.name}", str(exc)))
                continue
            if not route.bookable:
                if not service.requirebooking:
                    result.referral_only.append(service)
                continue
            if await self._book_at(route, patient, request, result, emit):
                return result
        if result.error is None:
            result.error = "No service could take a booking" + (
                f"; refer without booking to {result.referral_only[0].name}"
                if result.referral_only
                else ""
            )
        return result

    async def _booking_endpoint(
        self,
        service: models.DosService,
        details: models.DosServiceDetails,
        emit: Callable[[events.WorkflowEvent], None],
    ) -> tuple[str, str]:
        asids = details.booking_asids
        emit(events.ServiceDetails(service.id, service.name, tuple(asids)))
        if not asids:
            raise NoBookingEndpoint("DoS lists no booking ASID")
        if len(asids) > 1:
            raise NoBookingEndpoint(
                f"DoS lists {len(asids)} booking ASIDs: ambiguous, flagged as an error"
            )
        try:
            endpoint = await self.sds.endpoint_for(asids[0], Interaction.CREATE_APPOINTMENT)
        except (AsNotFound, NoEndpoint, SeveralEndpoints) as exc:
            # What SDS says about this service: its non-booking path.
            raise NoBookingEndpoint(f"SDS: {exc}") from exc
        except (SdsError, ServiceUnreachable) as exc:
            # SDS failing or unreachable says nothing about the service.
            raise ServiceOutage(SDS_NAME, str(exc)) from exc
        emit(events.EndpointResolved(asids[0], endpoint))
        return asids[0], endpoint

    async def _book_at(
        self,
        route: BookingRoute,
        patient: models.VerifiedPatient,
        request: BookingRequest,
        result: BookingResult,
        emit: Callable[[events.WorkflowEvent], None],
    ) -> bool:
        """Book at one bookable service: the slot chosen (or the first free one), and on 422
        the next, up to `max_slot_attempts`; whether it booked (`result` says what)."""
        assert route.endpoint is not None and route.asid is not None
        name = route.service.name
        earliest = request.earliest or datetime.now(UTC)
        latest = request.latest or earliest + timedelta(hours=24)
        try:
            await self.provider.tokens.token(
                audience=route.endpoint, interaction=Interaction.READ_SLOT
            )
            emit(events.TokenObtained(route.endpoint, self.auth_mode))
            tried: set[str] = set()
            for _attempt in range(self.max_slot_attempts):
                chosen = request.preferred_slot if request.preferred_slot and not tried else None
                if chosen is None:
                    slots = await self.free_slots(
                        route,
                        disposition=request.disposition,
                        trace_id=result.trace_id,
                        start=earliest,
                        end=latest,
                        on_event=emit,
                    )
                    wanted = {request.slot_id} if request.slot_id else {s.id for s in slots} - tried
                    chosen = next((s for s in slots if s.id in wanted), None)
                    if chosen is None and request.slot_id is not None:
                        result.error = f"Slot {request.slot_id} is not free at {name}"
                        emit(events.StepFailed(f"Booking at {name}", result.error))
                        return False
                if chosen is None:
                    emit(events.StepFailed(f"Booking at {name}", "no free slot in the window"))
                    return False
                tried.add(chosen.id)
                try:
                    appointment = await self.book_slot(
                        route,
                        chosen,
                        patient,
                        trace_id=result.trace_id,
                        description=request.description,
                        on_event=emit,
                    )
                except SlotTaken:
                    if request.slot_id is not None:  # that slot, or none
                        result.error = f"Slot {request.slot_id} was taken meanwhile"
                        return False
                    continue
                except ConsumerError as exc:
                    result.error = str(exc)  # book_slot has told on_event
                    return False
                result.appointment, result.service, result.slot = appointment, route.service, chosen
                result.provider_url, result.provider_asid = route.endpoint, route.asid
                result.error = None
                return True
            result.error = (
                f"Every slot tried at {name} was taken ({self.max_slot_attempts} attempts)"
            )
        except ConsumerError as exc:
            emit(events.StepFailed(f"Booking at {name}", str(exc)))
            result.error = str(exc)
        return False

    # -- The workflow's steps, one at a time, for a person driving the journey (the console):
    # the same PDS, DoS, SDS and provider calls `run` makes, emitting the same events.

    async def verify_patient(
        self, request: BookingRequest, *, correlation_id: str | None = None
    ) -> models.VerifiedPatient:
        """Step 1, PDS: the NHS number and whatever demographics the caller gave."""
        return await self.pds.verify(
            nhs_number=request.nhs_number,
            postcode=request.postcode,
            family=request.family,
            birth_date=request.birth_date,
            correlation_id=correlation_id,
        )

    async def find_services(
        self,
        case: models.DosCase,
        on_event: Callable[[events.WorkflowEvent], None] | None = None,
    ) -> list[models.DosService]:
        """Step 2, DoS CheckCapacitySummary, in DoS's order."""
        services = await self.dos.check_capacity_summary(case)
        (on_event or _unheard)(
            events.ServicesFound(
                tuple((s.id, s.name, s.distance_miles, s.requirebooking) for s in services)
            )
        )
        return services

    async def booking_route(
        self,
        service: models.DosService,
        on_event: Callable[[events.WorkflowEvent], None] | None = None,
    ) -> BookingRoute:
        """Steps 3-4, DoS ServiceDetailsById then SDS: where this service takes bookings, or
        why it cannot (a referral). An SDS outage is raised, never taken for a referral."""
        emit = on_event or _unheard
        details = await self.dos.service_details_by_id(service.id)
        try:
            asid, endpoint = await self._booking_endpoint(service, details, emit)
        except NoBookingEndpoint as exc:
            emit(
                events.ServiceNotBookable(
                    service.id, service.name, str(exc), not service.requirebooking
                )
            )
            return BookingRoute(service, details, None, None, str(exc))
        return BookingRoute(service, details, asid, endpoint, None)

    async def free_slots(
        self,
        route: BookingRoute,
        *,
        disposition: str,
        trace_id: str,
        start: datetime,
        end: datetime,
        on_event: Callable[[events.WorkflowEvent], None] | None = None,
    ) -> list[models.FreeSlot]:
        """Step 5, the provider's free slots at the service (via the SSP)."""
        assert route.endpoint is not None and route.asid is not None
        slots = await self.provider.search_free_slots(
            endpoint=route.endpoint,
            to_asid=route.asid,
            healthcare_service_id=route.service.id,
            start=start,
            end=end,
            trace_id=trace_id,
        )
        starts = [s.start for s in slots]
        (on_event or _unheard)(
            events.SlotsFound(
                route.service.id,
                len(slots),
                starts[0] if starts else None,
                slots_in_time(starts, disposition, datetime.now(UTC)),
            )
        )
        return slots

    async def book_slot(
        self,
        route: BookingRoute,
        slot: models.FreeSlot,
        patient: models.VerifiedPatient,
        *,
        trace_id: str,
        description: str,
        on_event: Callable[[events.WorkflowEvent], None] | None = None,
    ) -> models.BookedAppointment:
        """Step 6, book one chosen slot; `SlotTaken` when it went meanwhile (422)."""
        assert route.endpoint is not None and route.asid is not None
        emit = on_event or _unheard
        try:
            appointment = await self.provider.book(
                endpoint=route.endpoint,
                to_asid=route.asid,
                slot=slot,
                patient=patient,
                trace_id=trace_id,
                description=description,
            )
        except SlotTaken:
            emit(events.SlotGone(slot.id))
            raise
        except ConsumerError as exc:
            emit(events.StepFailed(f"Booking at {route.service.name}", str(exc)))
            raise
        emit(events.Booked(appointment.id, appointment.slot_id, appointment.start))
        return appointment


@dataclass(frozen=True)
class BookingRoute:
    """Where a DoS service takes bookings (ASID and endpoint), or why it cannot (`reason`)."""

    service: models.DosService
    details: models.DosServiceDetails
    asid: str | None
    endpoint: str | None
    reason: str | None = None

    @property
    def bookable(self) -> bool:
        return self.endpoint is not None
