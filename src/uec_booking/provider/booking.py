"""Booking, reading and cancelling Appointments: one transaction each, audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from uec_booking.fhir.errors import (
    BadRequest,
    Conflict,
    FhirError,
    NotFound,
    PreconditionFailed,
    SlotUnavailable,
    Unprocessable,
)
from uec_booking.fhir.interactions import Interaction
from uec_booking.fhir.urls import profiles
from uec_booking.provider.appointment_rules import BookingRequest, cancellation
from uec_booking.provider.paging import Page
from uec_booking.provider.representation import instant
from uec_booking.provider.store import Store, audit, directory, slots
from uec_booking.provider.store import appointments as rows
from uec_booking.provider.store.appointments import Provenance, now_utc
from uec_booking.provider.store.models import AppointmentRow, AppointmentVersion


@dataclass(frozen=True, slots=True)
class StoredAppointment:
    id: str
    version_id: int
    updated_at: datetime
    resource: dict[str, Any]


def _from_row(
    row: AppointmentRow | AppointmentVersion, appointment_id: str, version_id: int, at: datetime
) -> StoredAppointment:
    return StoredAppointment(appointment_id, version_id, at, orjson.loads(row.body))


def _with_meta(
    resource: dict[str, Any], appointment_id: str, version_id: int, at: datetime
) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Appointment", "id": appointment_id}
    out.update({k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")})
    declared = (resource.get("meta") or {}).get("profile") or []
    merged = list(dict.fromkeys([*declared, *profiles("Appointment")]))
    out["meta"] = {"versionId": str(version_id), "lastUpdated": instant(at), "profile": merged}
    # Keep meta right after id, as FHIR JSON is usually read.
    return {
        "resourceType": out.pop("resourceType"),
        "id": out.pop("id"),
        "meta": out.pop("meta"),
        **out,
    }


class AppointmentService:
    def __init__(self, store: Store, base_url: str) -> None:
        self.store = store
        self.base_url = base_url

    def version_url(self, appointment_id: str, version_id: int) -> str:
        return f"{self.base_url}/Appointment/{appointment_id}/_history/{version_id}"

    async def book(
        self, request: BookingRequest, who: Provenance, *, check_visibility: bool = False
    ) -> StoredAppointment:
        """Book the slot for the patient, or raise: the slot is claimed and the Appointment
        written in the same transaction. With `check_visibility`, a slot the caller may not
        see (`provider/visibility.py`) books as if it were not free."""
        try:
            return await self._book(request, who, check_visibility)
        except IntegrityError as exc:
            # Another transaction got there first: same X-Request-ID, or the same slot.
            error = await self._explain_integrity(request, who)
            await self._audit_failure(Interaction.CREATE_APPOINTMENT, error, who)
            raise error from exc
        except FhirError as error:
            await self._audit_failure(Interaction.CREATE_APPOINTMENT, error, who)
            raise

    async def _book(
        self, request: BookingRequest, who: Provenance, check_visibility: bool
    ) -> StoredAppointment:
        appointment_id = str(uuid.uuid4())
        at = now_utc()
        resource = _with_meta(request.resource, appointment_id, 1, at)
        async with self.store.write() as session:
            if check_visibility and await _hidden_from(session, request.slot_id, who):
                raise SlotUnavailable()
            if who.request_id:
                existing = await rows.by_request_id(session, who.request_id)
                if existing is not None:
                    raise self._duplicate(existing)
            if not await rows.claim_slot(session, request.slot_id, request.start, request.end):
                slot = await slots.get(session, request.slot_id)
                if slot is None:
                    raise Unprocessable(
                        f"Slot '{request.slot_id}' does not exist",
                        spine_code="REFERENCE_NOT_FOUND",
                        expression="Appointment.slot",
                    )
                if slot.start != request.start or slot.end != request.end:
                    raise Unprocessable(
                        "Appointment start and end must match the Slot's "
                        f"({instant(slot.start)} to {instant(slot.end)})",
                        expression="Appointment.start",
                    )
                raise SlotUnavailable()
            await rows.insert(
                session,
                appointment_id=appointment_id,
                slot_id=request.slot_id,
                start=request.start,
                nhs_number=request.nhs_number,
                resource=resource,
                who=who,
                at=at,
            )
            await audit.record(
                session,
                interaction=Interaction.CREATE_APPOINTMENT.short,
                status_code=201,
                who=who,
                resource_id=appointment_id,
                detail=f"slot {request.slot_id}",
            )
        return StoredAppointment(appointment_id, 1, at, resource)

    def _duplicate(self, existing: AppointmentRow) -> Conflict:
        return Conflict(
            f"X-Request-ID '{existing.request_id}' has already booked Appointment {existing.id}",
            headers={"Content-Location": self.version_url(existing.id, existing.version_id)},
        )

    async def _explain_integrity(self, request: BookingRequest, who: Provenance) -> FhirError:
        if who.request_id:
            async with self.store.read() as session:
                existing = await rows.by_request_id(session, who.request_id)
            if existing is not None:
                return self._duplicate(existing)
        return SlotUnavailable()

    async def _audit_failure(
        self, interaction: Interaction, error: FhirError, who: Provenance
    ) -> None:
        async with self.store.write() as session:
            await audit.record(
                session,
                interaction=interaction.short,
                status_code=error.status,
                who=who,
                detail=error.diagnostics,
            )

    async def read(self, appointment_id: str) -> StoredAppointment:
        async with self.store.read() as session:
            row = await rows.get(session, appointment_id)
        if row is None:
            raise NotFound(f"No Appointment with id '{appointment_id}'")
        return _from_row(row, row.id, row.version_id, row.updated_at)

    async def vread(self, appointment_id: str, version_id: str) -> StoredAppointment:
        if not version_id.isdigit():
            raise NotFound(f"No version '{version_id}' of Appointment '{appointment_id}'")
        async with self.store.read() as session:
            row = await rows.version(session, appointment_id, int(version_id))
        if row is None:
            raise NotFound(f"No version '{version_id}' of Appointment '{appointment_id}'")
        return _from_row(row, appointment_id, row.version_id, row.recorded_at)

    async def history(self, appointment_id: str) -> list[StoredAppointment]:
        async with self.store.read() as session:
            found = await rows.versions(session, appointment_id)
        if not found:
            raise NotFound(f"No Appointment with id '{appointment_id}'")
        return [_from_row(v, appointment_id, v.version_id, v.recorded_at) for v in found]

    async def cancel(
        self, appointment_id: str, incoming: dict[str, Any], if_match: str | None, who: Provenance
    ) -> StoredAppointment:
        try:
            return await self._cancel(appointment_id, incoming, if_match, who)
        except FhirError as error:
            await self._audit_failure(Interaction.UPDATE_APPOINTMENT, error, who)
            raise

    async def _cancel(
        self, appointment_id: str, incoming: dict[str, Any], if_match: str | None, who: Provenance
    ) -> StoredAppointment:
        if incoming.get("id") != appointment_id:
            raise BadRequest(
                f"The Appointment's id ({incoming.get('id')!r}) must match the URL ('{appointment_id}')",
                expression="Appointment.id",
            )
        expected = _parse_if_match(if_match)
        at = now_utc()
        async with self.store.write() as session:
            row = await rows.get(session, appointment_id)
            if row is None:
                raise NotFound(f"No Appointment with id '{appointment_id}'")
            if row.version_id != expected:
                raise Conflict(
                    f"If-Match names version {expected}, but the Appointment is at version "
                    f"{row.version_id}: read it again",
                    spine_code="FHIR_CONSTRAINT_VIOLATION",
                )
            stored = orjson.loads(row.body)
            new_version = row.version_id + 1
            resource = _with_meta(cancellation(stored, incoming), appointment_id, new_version, at)
            if not await rows.cancel(
                session, row, expected_version=expected, resource=resource, at=at
            ):
                raise Conflict("The Appointment changed meanwhile: read it again")
            await audit.record(
                session,
                interaction=Interaction.UPDATE_APPOINTMENT.short,
                status_code=200,
                who=who,
                resource_id=appointment_id,
                detail=f"cancelled; slot {row.slot_id} freed",
            )
        return StoredAppointment(appointment_id, new_version, at, resource)

    async def search(self, **criteria: Any) -> list[StoredAppointment]:
        async with self.store.read() as session:
            found = await rows.search(session, **criteria)
        return [_from_row(r, r.id, r.version_id, r.updated_at) for r in found]

    async def search_page(self, **criteria: Any) -> Page[StoredAppointment]:
        """One page of matching appointments (`store.appointments.search_page`)."""
        async with self.store.read() as session:
            found = await rows.search_page(session, **criteria)
        items = [_from_row(r, r.id, r.version_id, r.updated_at) for r in found.items]
        return Page(items, found.total, found.before)


async def _hidden_from(session: AsyncSession, slot_id: str, who: Provenance) -> bool:
    rules = await directory.visibility(session)
    if not rules.rules:
        return False
    slot = await slots.get(session, slot_id)
    return slot is not None and bool(rules.hidden_for(who, [slot.schedule_id]))


def _parse_if_match(value: str | None) -> int:
    if not value:
        raise PreconditionFailed(
            "A cancellation needs an If-Match header with the Appointment's version (its ETag)"
        )
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise PreconditionFailed(f"If-Match '{value}' does not name a version")
    return int(tag)
