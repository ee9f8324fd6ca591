"""The consumer's client for a provider's FHIR API, through the SSP.

Every request carries `Ssp-TraceID` (a new one per request, as the SSP guide says; the
journey's own trace id stays in our logs and journal), `Ssp-From`, `Ssp-To`,
`Ssp-InteractionID`, a bearer token for the provider's base URL, and an `X-Request-ID`
that stays the same on retries, so a retried booking can never book twice: the provider
answers a repeat with 409 and the appointment it already made.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from uec_booking.consumer.appointment import appointment_for
from uec_booking.consumer.auth import TokenSource
from uec_booking.consumer.errors import ConsumerError, ProviderError, ServiceUnreachable, SlotTaken
from uec_booking.consumer.http_service import HttpService
from uec_booking.consumer.models import BookedAppointment, FreeSlot, VerifiedPatient
from uec_booking.fhir.interactions import Interaction
from uec_booking.fhir.reference import parse_reference
from uec_booking.fhir.urls import DELIVERY_CHANNEL_EXTENSION

FHIR_JSON = "application/fhir+json"
RETRYABLE = frozenset({502, 503, 504})
METHOD = {"read": "GET", "search": "GET", "create": "POST", "update": "PUT"}  # by interaction
SLOT_INCLUDES = (
    "Slot:schedule",
    "Schedule:actor:Practitioner",
    "Schedule:actor:Location",
    "Schedule:actor:HealthcareService",
)


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _service_location(
    index: dict[tuple[Any, Any], dict[str, Any]], by_type: dict[Any, dict[str, Any]]
) -> dict[str, Any]:
    """The HealthcareService's Location: Schedules name no Location actor (fs_fhir_overrides)."""
    for ref in by_type.get("HealthcareService", {}).get("location", []):
        location = parse_reference(ref.get("reference", ""))
        return index.get(("Location", location.id), {})
    return {}


def _outcome_text(body: dict[str, Any]) -> str:
    issues = body.get("issue") or [{}]
    return str(issues[0].get("diagnostics") or issues[0].get("code") or "")


class ProviderClient(HttpService):
    """Slot search and booking at a provider, through the SSP.

    provider = ProviderClient(ssp_url="https://ssp…", from_asid="…", tokens=tokens)
    slots = await provider.search_free_slots(endpoint=…, to_asid=…, healthcare_service_id=…,
                                             start=…, end=…, trace_id=…)
    """

    def __init__(
        self,
        *,
        ssp_url: str | None,
        from_asid: str,
        tokens: TokenSource,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_retries: int = 2,
        backoff: float = 0.2,
    ) -> None:
        super().__init__(timeout, transport)
        self.ssp_url = ssp_url.rstrip("/") if ssp_url else None
        self.from_asid = from_asid
        self.tokens = tokens
        self.max_retries = max_retries
        self.backoff = backoff

    def url(self, endpoint: str, path: str) -> str:
        target = f"{endpoint.rstrip('/')}/{path.lstrip('/')}"
        return f"{self.ssp_url}/{target}" if self.ssp_url else target

    async def _send(
        self,
        interaction: Interaction,
        endpoint: str,
        to_asid: str,
        path: str,
        *,
        params: list[tuple[str, str | int | float | bool | None]] | None = None,
        json_body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        expect: int | None = None,
    ) -> httpx.Response:
        """The answer of the provider `to_asid` to `interaction` on `path` under its FHIR base
        `endpoint` (every call names these four, so by position), retried on a transport
        error or 502-504 and once with a fresh token on 401; with `expect`, any other status is raised as the consumer's error."""
        request_id = str(uuid.uuid4())  # the same on every retry of this request
        refreshed = False
        attempt = 0
        async with self._client() as client:
            while True:
                # A token per request: interim tokens name this interaction's scope.
                token = await self.tokens.token(audience=endpoint, interaction=interaction)
                sent_headers = {
                    "Ssp-TraceID": str(uuid.uuid4()),  # per request (SSP guide)
                    "Ssp-From": self.from_asid,
                    "Ssp-To": to_asid,
                    "Ssp-InteractionID": interaction.value,
                    "Authorization": f"Bearer {token}",
                    "Accept": FHIR_JSON,
                    "X-Request-ID": request_id,
                    **(headers or {}),
                }
                if json_body is not None:
                    sent_headers["Content-Type"] = f"{FHIR_JSON};charset=utf-8"
                try:
                    response = await client.request(
                        METHOD[interaction.short.partition(":")[0]],
                        self.url(endpoint, path),
                        params=params,
                        json=json_body,
                        headers=sent_headers,
                    )
                except httpx.TransportError as exc:
                    if attempt < self.max_retries:
                        attempt += 1
                        await asyncio.sleep(self.backoff * 2**attempt)
                        continue
                    raise ServiceUnreachable(
                        f"The provider could not be reached via the SSP: {exc}"
                    ) from exc
                if (
                    response.status_code == 401
                    and not refreshed
                    and hasattr(self.tokens, "invalidate")
                ):
                    self.tokens.invalidate(endpoint)
                    refreshed = True
                    continue
                if response.status_code in RETRYABLE and attempt < self.max_retries:
                    attempt += 1
                    await asyncio.sleep(self.backoff * 2**attempt)
                    continue
                if expect is not None and response.status_code != expect:
                    raise self._fail(response)
                return response

    @staticmethod
    def _fail(response: httpx.Response) -> ConsumerError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        text = _outcome_text(body) if isinstance(body, dict) else ""
        if response.status_code in (495, 496):  # the SSP's own: TLS-MA refused (SSP guide)
            return ProviderError(
                response.status_code,
                body,
                f"The SSP refused our client certificate ({response.status_code}): {text}",
            )
        if response.status_code == 422 and text == "Slot no longer available":
            return SlotTaken(422, body, text)
        if response.status_code >= 500:
            return ServiceUnreachable(f"The provider answered {response.status_code}: {text}")
        return ProviderError(
            response.status_code, body, f"The provider answered {response.status_code}: {text}"
        )

    async def metadata(self, *, endpoint: str, to_asid: str, trace_id: str) -> dict[str, Any]:
        response = await self._send(
            Interaction.READ_METADATA, endpoint, to_asid, "metadata", expect=200
        )
        return dict(response.json())

    async def search_free_slots(
        self,
        *,
        endpoint: str,
        to_asid: str,
        healthcare_service_id: str,
        start: datetime,
        end: datetime,
        trace_id: str,
    ) -> list[FreeSlot]:
        """The free slots of one HealthcareService (its DoS id) starting in [start, end],
        soonest first, with practitioner and location from the `_include`d resources.

            slots = await provider.search_free_slots(
                endpoint="https://provider.example/fhir", to_asid="200000000101",
                healthcare_service_id="2000100001", start=now, end=now + timedelta(hours=4),
                trace_id=str(uuid.uuid4()))
        """
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("status", "free"),
            ("start", f"ge{start.astimezone(UTC).isoformat(timespec='seconds')}"),
            ("start", f"le{end.astimezone(UTC).isoformat(timespec='seconds')}"),
            ("schedule.actor:healthcareservice", healthcare_service_id),
            *(("_include", i) for i in SLOT_INCLUDES),
        ]
        response = await self._send(
            Interaction.READ_SLOT, endpoint, to_asid, "Slot", params=params, expect=200
        )
        return self._slots(response.json())

    @staticmethod
    def _slots(bundle: dict[str, Any]) -> list[FreeSlot]:
        resources = [e.get("resource", {}) for e in bundle.get("entry", [])]
        index = {(r.get("resourceType"), r.get("id")): r for r in resources}
        out = []
        for slot in resources:
            if slot.get("resourceType") != "Slot" or slot.get("status") != "free":
                continue
            schedule_id = parse_reference(slot["schedule"]["reference"]).id
            actors = [
                parse_reference(a.get("reference", ""))
                for a in index.get(("Schedule", schedule_id), {}).get("actor", [])
            ]
            by_type = {a.resource_type: index.get((a.resource_type, a.id), {}) for a in actors}
            practitioner = by_type.get("Practitioner", {}).get("name") or [{}]
            person = " ".join(
                [
                    *practitioner[0].get("prefix", []),
                    *practitioner[0].get("given", []),
                    practitioner[0].get("family", ""),
                ]
            ).strip()
            out.append(
                FreeSlot(
                    id=slot["id"],
                    start=_instant(slot["start"]),
                    end=_instant(slot["end"]),
                    schedule_id=schedule_id,
                    healthcare_service_id=next(
                        (a.id for a in actors if a.resource_type == "HealthcareService"), None
                    ),
                    practitioner=person or None,
                    location=(by_type.get("Location") or _service_location(index, by_type)).get(
                        "name"
                    ),
                    resource=slot,
                    delivery_channel=next(
                        (
                            e.get("valueCode")
                            for e in slot.get("extension", [])
                            if e.get("url") == DELIVERY_CHANNEL_EXTENSION
                        ),
                        None,
                    ),
                )
            )
        return sorted(out, key=lambda s: (s.start, s.id))

    async def book(
        self,
        *,
        endpoint: str,
        to_asid: str,
        slot: FreeSlot,
        patient: VerifiedPatient,
        trace_id: str,
        description: str,
    ) -> BookedAppointment:
        """Book `slot` for a PDS-verified patient; `SlotTaken` when the slot went meanwhile.

        booked = await provider.book(endpoint=…, to_asid=…, slot=slots[0], patient=patient,
                                     trace_id=trace_id, description="Booked by NHS 111")
        """
        body = appointment_for(slot, patient, description=description)
        response = await self._send(
            Interaction.CREATE_APPOINTMENT, endpoint, to_asid, "Appointment", json_body=body
        )
        if response.status_code == 409 and response.headers.get("content-location"):
            # Our own earlier attempt (same X-Request-ID) already booked: fetch what it made.
            appointment_id = parse_reference(response.headers["content-location"]).id
            earlier = await self.get_appointment(
                endpoint=endpoint, to_asid=to_asid, appointment_id=appointment_id, trace_id=trace_id
            )
            if earlier.slot_id != slot.id or earlier.start != slot.start:
                # Not the booking we asked for: never take someone else's as ours.
                raise ProviderError(
                    409,
                    response.json() if response.content else {},
                    f"The provider answered 409 naming Appointment {appointment_id}, which is "
                    f"not for slot {slot.id} at {slot.start.isoformat()}: not our booking",
                )
            return earlier
        if response.status_code != 201:
            raise self._fail(response)
        return self._booked(response.json(), response.headers.get("location"))

    @staticmethod
    def _booked(resource: dict[str, Any], location: str | None) -> BookedAppointment:
        slot_ref = (resource.get("slot") or [{}])[0].get("reference", "")
        ref = parse_reference(slot_ref)
        slot_id = ref.id
        if ref.contained:
            slot_id = next(
                (c["id"] for c in resource.get("contained", []) if c.get("id") == ref.id), ref.id
            )
        return BookedAppointment(
            id=resource["id"],
            version_id=(resource.get("meta") or {}).get("versionId"),
            slot_id=slot_id,
            start=_instant(resource["start"]),
            end=_instant(resource["end"]),
            location_url=location,
            resource=resource,
        )

    async def _read_appointment(
        self, *, endpoint: str, to_asid: str, appointment_id: str, trace_id: str
    ) -> httpx.Response:
        return await self._send(
            Interaction.READ_APPOINTMENT,
            endpoint,
            to_asid,
            f"Appointment/{appointment_id}",
            expect=200,
        )

    async def get_appointment(
        self, *, endpoint: str, to_asid: str, appointment_id: str, trace_id: str
    ) -> BookedAppointment:
        response = await self._read_appointment(
            endpoint=endpoint, to_asid=to_asid, appointment_id=appointment_id, trace_id=trace_id
        )
        return self._booked(response.json(), response.headers.get("content-location"))

    async def cancel(
        self, *, endpoint: str, to_asid: str, appointment_id: str, trace_id: str
    ) -> dict[str, Any]:
        """Cancel (PUT with `status: cancelled`, If-Match the version read); frees the slot."""
        current = await self._read_appointment(
            endpoint=endpoint, to_asid=to_asid, appointment_id=appointment_id, trace_id=trace_id
        )
        body = dict(current.json(), status="cancelled")
        response = await self._send(
            Interaction.UPDATE_APPOINTMENT,
            endpoint,
            to_asid,
            f"Appointment/{appointment_id}",
            json_body=body,
            headers={"If-Match": current.headers.get("etag", "")},
            expect=200,
        )
        return dict(response.json())
