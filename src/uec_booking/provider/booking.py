"""Booking, reading and cancelling Appointments: one transaction each, audited."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from uec_booking.fhir.errors import (
    BadRequest,
    Conflict,
    FhirError,
    Forbidden,
    NotFound,
    PreconditionFailed,
    SlotUnavailable,
    Unprocessable,
)
from uec_booking.fhir.interactions import Interaction
from uec_booking.fhir.urls import profiles
from uec_booking.provider.appointment_rules import RequestedAppointment, cancellation
from uec_booking.provider.paging import Page
from uec_booking.provider.representation import instant
from uec_booking.provider.settings import AppointmentAccess
from uec_booking.provider.store import AlreadyStored, Store, audit, directory, slots
from uec_booking.provider.store import appointments as rows
from uec_booking.provider.store.appointments import Provenance, now_utc
from uec_booking.provider.store.models import AppointmentRow, AppointmentVersion

log = logging.getLogger("uec_booking.provider")


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


def request_hash(resource: dict[str, Any]) -> str:
    """What a repeated X-Request-ID is compared by: the request's content, key order aside."""
    return hashlib.sha256(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)).hexdigest()


class AppointmentService:
    def __init__(
        self,
        store: Store,
        base_url: str,
        access: AppointmentAccess = AppointmentAccess.ORGANISATION,
    ) -> None:
        self.store = store
        self.base_url = base_url
        self.access = access

    def _checks_owner(self, who: Provenance) -> bool:
        return self.access is AppointmentAccess.ORGANISATION and who.verified

    def _require_owner(self, row: AppointmentRow, who: Provenance) -> None:
        if self._checks_owner(who) and not rows.is_owner(row, who):
            raise Forbidden(
                f"Appointment '{row.id}' was booked by another organisation: only the "
                "organisation that booked it may read or cancel it"
            )

    @asynccontextmanager
    async def attempt(self, interaction: Interaction, who: Provenance) -> AsyncIterator[None]:
        """Audit a refused attempt at `interaction` (whatever refused it: the body, the
        rules, the store) with the caller's identity; successes are audited in their own
        transaction."""
        try:
            yield
        except FhirError as error:
            await self.audit_failure(interaction, error, who)
            raise

    def version_url(self, appointment_id: str, version_id: int) -> str:
        return f"{self.base_url}/Appointment/{appointment_id}/_history/{version_id}"

    async def book(
        self, request: RequestedAppointment, who: Provenance, *, check_visibility: bool = False
    ) -> StoredAppointment:
        """Book the slot for the patient, or raise: the slot is claimed and the Appointment
        written in the same transaction. With `check_visibility`, a slot the caller may not
        see (`provider/visibility.py`) books as if it were not free. Refusals are audited by
        `attempt`."""
        digest = request_hash(request.resource)
        try:
            return await self._book(request, who, digest, check_visibility)
        except AlreadyStored as exc:
            # Another transaction got there first: same X-Request-ID, or the same slot.
            raise await self._explain_integrity(who, digest) from exc

    async def _book(
        self, request: RequestedAppointment, who: Provenance, digest: str, check_visibility: bool
    ) -> StoredAppointment:
        appointment_id = str(uuid.uuid4())
        at = now_utc()
        resource = _with_meta(request.resource, appointment_id, 1, at)
        new = rows.NewAppointment(
            appointment_id,
            request.slot_id,
            request.start,
            request.end,
            request.nhs_number,
            resource,
            who,
            at,
            digest,
        )
        if self.store.direct is not None and await rows.book_directly(
            self.store.direct,
            new,
            check_visibility=check_visibility,
            interaction=Interaction.CREATE_APPOINTMENT.short,
        ):
            return StoredAppointment(appointment_id, 1, at, resource)
        # Not booked in one statement: the session decides, and says why when it refuses.
        async with self.store.write() as session:
            if check_visibility and await _hidden_from(session, request.slot_id, who):
                raise SlotUnavailable()
            if who.request_id:
                existing = await rows.by_request_id(session, who.consumer_key, who.request_id)
                if existing is not None:
                    raise self._duplicate(existing, digest)
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
            await rows.insert(session, new)
            await audit.success(
                session,
                Interaction.CREATE_APPOINTMENT.short,
                201,
                who,
                appointment_id,
                f"slot {request.slot_id}",
            )
        return StoredAppointment(appointment_id, 1, at, resource)

    def _duplicate(self, existing: AppointmentRow, digest: str) -> FhirError:
        """A repeat of the same request gets the original outcome (409 naming what it booked);
        the same id on a different request is refused, naming nothing."""
        if existing.request_hash is not None and existing.request_hash != digest:
            return Unprocessable(
                f"X-Request-ID '{existing.request_id}' was already used by this consumer for a "
                "different request: send a new X-Request-ID for a new request",
                spine_code="DUPLICATE_REJECTED",
                issue_code="duplicate",
            )
        return Conflict(
            f"X-Request-ID '{existing.request_id}' has already booked Appointment {existing.id}",
            headers={"Content-Location": self.version_url(existing.id, existing.version_id)},
        )

    async def _explain_integrity(self, who: Provenance, digest: str) -> FhirError:
        if who.request_id:
            async with self.store.read() as session:
                existing = await rows.by_request_id(session, who.consumer_key, who.request_id)
            if existing is not None:
                return self._duplicate(existing, digest)
        return SlotUnavailable()

    async def audit_failure(
        self, interaction: Interaction, error: FhirError, who: Provenance
    ) -> None:
        if error.status < 500:
            # A consumer-side error, logged with the consumer's identity (assurance P35).
            log.warning(
                "consumer-side error %d on %s from ods=%s asid=%s client=%s trace=%s: %s",
                error.status,
                interaction.short,
                who.ods,
                who.asid,
                who.client_id,
                who.trace_id,
                error.diagnostics[:500],
            )
        try:
            async with self.store.write() as session:
                await audit.record(
                    session,
                    interaction=interaction.short,
                    status_code=error.status,
                    who=who,
                    detail=error.diagnostics,
                )
        except FhirError as down:
            # The store is down: the refusal still goes to the log, the answer is unchanged.
            log.error("could not audit a refused %s: %s", interaction.short, down.diagnostics)

    async def _owned(self, session: Any, appointment_id: str, who: Provenance) -> AppointmentRow:
        row = await rows.get(session, appointment_id)
        if row is None:
            raise NotFound(f"No Appointment with id '{appointment_id}'")
        self._require_owner(row, who)
        return row

    async def read(self, appointment_id: str, who: Provenance) -> StoredAppointment:
        async with self.store.read() as session:
            row = await self._owned(session, appointment_id, who)
        return _from_row(row, row.id, row.version_id, row.updated_at)

    async def vread(
        self, appointment_id: str, version_id: str, who: Provenance
    ) -> StoredAppointment:
        # A version beyond what any column holds names no version (not a store error).
        if not version_id.isdigit() or len(version_id) > 9:
            raise NotFound(f"No version '{version_id[:20]}' of Appointment '{appointment_id}'")
        async with self.store.read() as session:
            await self._owned(session, appointment_id, who)
            row = await rows.version(session, appointment_id, int(version_id))
        if row is None:
            raise NotFound(f"No version '{version_id}' of Appointment '{appointment_id}'")
        return _from_row(row, appointment_id, row.version_id, row.recorded_at)

    async def history(self, appointment_id: str, who: Provenance) -> list[StoredAppointment]:
        async with self.store.read() as session:
            await self._owned(session, appointment_id, who)
            found = await rows.versions(session, appointment_id)
        return [_from_row(v, appointment_id, v.version_id, v.recorded_at) for v in found]

    async def cancel(
        self, appointment_id: str, incoming: dict[str, Any], if_match: str | None, who: Provenance
    ) -> StoredAppointment:
        """Cancel (frees the slot), or raise. Refusals are audited by `attempt`."""
        return await self._cancel(appointment_id, incoming, if_match, who)

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
            row = await self._owned(session, appointment_id, who)
            if row.version_id != expected:
                raise Conflict(
                    f"If-Match names {_shown(if_match)}, but the Appointment is at version "
                    f"{row.version_id}: read it again",
                    spine_code="FHIR_CONSTRAINT_VIOLATION",
                )
            stored = orjson.loads(row.body)
            new_version = row.version_id + 1
            resource = _with_meta(cancellation(stored, incoming), appointment_id, new_version, at)
            if not await rows.cancel(
                session, row, expected_version=row.version_id, resource=resource, at=at
            ):
                raise Conflict("The Appointment changed meanwhile: read it again")
            await audit.success(
                session,
                Interaction.UPDATE_APPOINTMENT.short,
                200,
                who,
                appointment_id,
                f"cancelled; slot {row.slot_id} freed",
            )
        return StoredAppointment(appointment_id, new_version, at, resource)

    async def search_page(self, who: Provenance, **criteria: Any) -> Page[StoredAppointment]:
        """One page of matching appointments (`store.appointments.search_page`); only the
        caller's own bookings match (unless the provider shares them)."""
        owner = who if self._checks_owner(who) else None
        async with self.store.read() as session:
            found = await rows.search_page(session, owner=owner, **criteria)
        items = [_from_row(r, r.id, r.version_id, r.updated_at) for r in found.items]
        return Page(items, found.total, found.before)


async def _hidden_from(session: AsyncSession, slot_id: str, who: Provenance) -> bool:
    rules = await directory.visibility(session)
    if not rules.rules:
        return False
    slot = await slots.get(session, slot_id)
    return slot is not None and bool(rules.hidden_for(who, [slot.schedule_id]))


# No version number this store keeps is longer: a longer one can only be stale.
_MAX_VERSION_DIGITS = 9


def _parse_if_match(value: str | None) -> int | None:
    """The version `If-Match` names; None when it names something that is no version of
    ours (stale by definition: 409 once the Appointment is found). Missing: 412."""
    if not value or not value.strip():
        raise PreconditionFailed(
            "A cancellation needs an If-Match header with the Appointment's version (its ETag)"
        )
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > _MAX_VERSION_DIGITS:
        return None
    return int(tag)


def _shown(if_match: str | None) -> str:
    text = (if_match or "").strip()
    shown = text if len(text) <= 40 else text[:40] + "…"
    return f"'{shown.encode('ascii', 'replace').decode()}'"
