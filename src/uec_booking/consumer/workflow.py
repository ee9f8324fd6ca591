"""The booking workflow of the seed: verify the patient (PDS) → find services (DoS) → the
booking ASID → the endpoint (SDS) → a token → free slots (via the SSP) → book, and on 422
the next free slot. Every step is reported as a typed event."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from uec_booking.consumer import events
from uec_booking.consumer.errors import ConsumerError, NoBookingEndpoint, SdsError, SlotTaken
from uec_booking.consumer.journal import slots_in_time
from uec_booking.consumer.models import (
    BookedAppointment,
    DosCase,
    DosService,
    DosServiceDetails,
    FreeSlot,
    VerifiedPatient,
)
from uec_booking.consumer.provider import ProviderClient
from uec_booking.fhir.interactions import Interaction

GENDER_FOR_DOS = {"male": "M", "female": "F"}


class Pds(Protocol):
    async def verify(
        self,
        *,
        nhs_number: str,
        postcode: str | None = None,
        family: str | None = None,
        birth_date: str | None = None,
        correlation_id: str | None = None,
    ) -> VerifiedPatient: ...


class Dos(Protocol):
    async def check_capacity_summary(self, case: DosCase) -> list[DosService]: ...
    async def service_details_by_id(self, service_id: str) -> DosServiceDetails: ...


class Sds(Protocol):
    async def endpoint_for(
        self, asid: str, interaction: Interaction = Interaction.CREATE_APPOINTMENT
    ) -> str: ...


@dataclass(frozen=True)
class BookingRequest:
    nhs_number: str
    postcode: str | None = None
    family: str | None = None
    birth_date: str | None = None
    disposition: str = "Dx05"
    symptom_group: int = 1010
    symptom_discriminators: tuple[int, ...] = ()
    search_distance: int = 60
    earliest: datetime | None = None
    latest: datetime | None = None
    description: str = "Booked by NHS 111"
    # A slot the call handler picked from an earlier list: tried first; it may have gone.
    preferred_slot: FreeSlot | None = None
    # One Ssp-TraceID for the whole journey (a new one when not given).
    trace_id: str | None = None


@dataclass
class BookingResult:
    trace_id: str
    appointment: BookedAppointment | None = None
    service: DosService | None = None
    slot: FreeSlot | None = None
    provider_url: str | None = None
    provider_asid: str | None = None
    referral_only: list[DosService] = field(default_factory=list)
    error: str | None = None


def age_on(birth_date: str, today: date) -> int:
    born = date.fromisoformat(birth_date)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def case_for(request: BookingRequest, patient: VerifiedPatient) -> DosCase:
    """The DoS Case for a verified patient and the call's clinical outcome."""
    return DosCase(
        postcode=request.postcode or patient.postcode or "",
        age=age_on(patient.birth_date, datetime.now(UTC).date()),
        gender=GENDER_FOR_DOS.get(patient.gender, "I"),
        disposition=request.disposition,
        symptom_group=request.symptom_group,
        symptom_discriminators=list(request.symptom_discriminators),
        search_distance=request.search_distance,
    )


class BookingWorkflow:
    def __init__(
        self,
        *,
        pds: Pds,
        dos: Dos,
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
        emit = on_event or (lambda event: None)
        result = BookingResult(trace_id=request.trace_id or str(uuid.uuid4()))
        try:
            patient = await self.pds.verify(
                nhs_number=request.nhs_number,
                postcode=request.postcode,
                family=request.family,
                birth_date=request.birth_date,
                correlation_id=result.trace_id,  # X-Correlation-ID: one per journey
            )
        except ConsumerError as exc:
            emit(events.StepFailed("Patient verification (PDS)", str(exc)))
            result.error = f"Patient not verified: {exc}"
            return result
        emit(events.PatientVerified(patient.nhs_number, " ".join([*patient.given, patient.family])))
        case = case_for(request, patient)
        try:
            services = await self.dos.check_capacity_summary(case)
        except ConsumerError as exc:
            emit(events.StepFailed("Service search (DoS)", str(exc)))
            result.error = f"DoS search failed: {exc}"
            return result
        emit(
            events.ServicesFound(
                tuple((s.id, s.name, s.distance_miles, s.requirebooking) for s in services)
            )
        )
        for service in services:
            try:
                asid, endpoint = await self._booking_endpoint(service, emit)
            except NoBookingEndpoint as exc:
                emit(
                    events.NoBookingEndpoint(
                        service.id, service.name, str(exc), not service.requirebooking
                    )
                )
                if not service.requirebooking:
                    result.referral_only.append(service)
                continue
            except ConsumerError as exc:
                emit(events.StepFailed(f"Service details for {service.name}", str(exc)))
                continue
            booked = await self._book_at(service, asid, endpoint, patient, request, result, emit)
            if booked:
                return result
        if result.error is None:
            result.error = "No service could take a booking" + (
                f"; refer without booking to {result.referral_only[0].name}"
                if result.referral_only
                else ""
            )
        return result

    async def _booking_endpoint(
        self, service: DosService, emit: Callable[[events.WorkflowEvent], None]
    ) -> tuple[str, str]:
        details = await self.dos.service_details_by_id(service.id)
        asids = details.booking_asids
        emit(events.ServiceDetails(service.id, details.name, tuple(asids)))
        if not asids:
            raise NoBookingEndpoint("DoS lists no booking ASID")
        if len(asids) > 1:
            raise NoBookingEndpoint(
                f"DoS lists {len(asids)} booking ASIDs: ambiguous, flagged as an error"
            )
        try:
            endpoint = await self.sds.endpoint_for(asids[0], Interaction.CREATE_APPOINTMENT)
        except SdsError as exc:
            raise NoBookingEndpoint(f"SDS: {exc}") from exc
        emit(events.EndpointResolved(asids[0], endpoint))
        return asids[0], endpoint

    async def _book_at(
        self,
        service: DosService,
        asid: str,
        endpoint: str,
        patient: VerifiedPatient,
        request: BookingRequest,
        result: BookingResult,
        emit: Callable[[events.WorkflowEvent], None],
    ) -> bool:
        earliest = request.earliest or datetime.now(UTC)
        latest = request.latest or earliest + timedelta(hours=24)
        try:
            await self.provider.tokens.token(audience=endpoint, interaction=Interaction.READ_SLOT)
            emit(events.TokenObtained(endpoint, self.auth_mode))
            tried: set[str] = set()
            for _attempt in range(self.max_slot_attempts):
                chosen = request.preferred_slot if request.preferred_slot and not tried else None
                if chosen is None:
                    slots = await self.provider.search_free_slots(
                        endpoint=endpoint,
                        to_asid=asid,
                        healthcare_service_id=service.id,
                        start=earliest,
                        end=latest,
                        trace_id=result.trace_id,
                    )
                    starts = [s.start for s in slots]
                    in_time = slots_in_time(starts, request.disposition, datetime.now(UTC))
                    first = starts[0] if starts else None
                    emit(events.SlotsFound(service.id, len(slots), first, in_time))
                    chosen = next((s for s in slots if s.id not in tried), None)
                if chosen is None:
                    emit(
                        events.StepFailed(
                            f"Booking at {service.name}", "no free slot in the window"
                        )
                    )
                    return False
                tried.add(chosen.id)
                try:
                    appointment = await self.provider.book(
                        endpoint=endpoint,
                        to_asid=asid,
                        slot=chosen,
                        patient=patient,
                        trace_id=result.trace_id,
                        description=request.description,
                    )
                except SlotTaken:
                    emit(events.SlotTaken(chosen.id))
                    continue
                emit(events.Booked(appointment.id, appointment.slot_id, appointment.start))
                result.appointment, result.service, result.slot = appointment, service, chosen
                result.provider_url, result.provider_asid, result.error = endpoint, asid, None
                return True
            result.error = (
                f"Every slot tried at {service.name} was taken ({self.max_slot_attempts} attempts)"
            )
        except ConsumerError as exc:
            emit(events.StepFailed(f"Booking at {service.name}", str(exc)))
            result.error = str(exc)
        return False
