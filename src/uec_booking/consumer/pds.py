"""The consumer's PDS client: a Spine-verified NHS number before any booking (the seed)."""

from __future__ import annotations

from typing import Any

import httpx

from uec_booking.consumer.errors import (
    DemographicsMismatch,
    InvalidNhsNumber,
    PatientNotFound,
    PdsError,
    ServiceUnavailable,
)
from uec_booking.consumer.models import VerifiedPatient
from uec_booking.fhir.nhs_number import is_valid, normalise
from uec_booking.fhir.urls import NHS_NUMBER_SYSTEM


def _postcode(value: str | None) -> str:
    return (value or "").replace(" ", "").upper()


class PdsClient:
    """Verify a patient on PDS.

    pds = PdsClient(base_url="https://…/personal-demographics/FHIR/R4")
    patient = await pds.verify(nhs_number="9000000009", postcode="LS1 6AE")
    """

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._transport = transport

    async def verify(
        self,
        *,
        nhs_number: str,
        postcode: str | None = None,
        family: str | None = None,
        birth_date: str | None = None,
    ) -> VerifiedPatient:
        number = normalise(nhs_number)
        if not is_valid(number):
            raise InvalidNhsNumber(f"{nhs_number!r} is not a valid NHS number")
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=self.timeout) as client:
                response = await client.get(
                    f"{self.base_url}/Patient/{number}", headers={"Accept": "application/fhir+json"}
                )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"PDS unreachable: {exc}") from exc
        if response.status_code == 404:
            raise PatientNotFound(f"PDS has no patient with NHS number {number}")
        if response.status_code == 400:
            raise InvalidNhsNumber(f"PDS refused NHS number {number}")
        if response.status_code >= 500:
            raise ServiceUnavailable(f"PDS answered {response.status_code}")
        if response.status_code != 200:
            raise PdsError(f"PDS answered {response.status_code}")
        patient = self._parse(response.json())
        if patient.nhs_number != number:
            raise PdsError(f"PDS returned NHS number {patient.nhs_number} for {number}")
        if postcode and _postcode(postcode) != _postcode(patient.postcode):
            raise DemographicsMismatch("The postcode does not match PDS")
        if family and family.strip().lower() != patient.family.lower():
            raise DemographicsMismatch("The family name does not match PDS")
        if birth_date and birth_date != patient.birth_date:
            raise DemographicsMismatch("The date of birth does not match PDS")
        return patient

    @staticmethod
    def _parse(resource: dict[str, Any]) -> VerifiedPatient:
        try:
            number = next(
                i["value"] for i in resource["identifier"] if i.get("system") == NHS_NUMBER_SYSTEM
            )
            name = (resource.get("name") or [{}])[0]
            address = (resource.get("address") or [{}])[0]
            lines = list(address.get("line", []))
            phone = next(
                (t["value"] for t in resource.get("telecom", []) if t.get("system") == "phone"),
                None,
            )
            return VerifiedPatient(
                nhs_number=number,
                family=name.get("family", ""),
                given=list(name.get("given", [])),
                prefix=list(name.get("prefix", [])),
                gender=resource.get("gender", "unknown"),
                birth_date=resource.get("birthDate", ""),
                address_lines=lines[:-1] if len(lines) > 1 else lines,
                city=lines[-1] if len(lines) > 1 else None,
                postcode=address.get("postalCode"),
                phone=phone,
                resource=resource,
            )
        except (KeyError, StopIteration, TypeError, AttributeError) as exc:
            raise PdsError(f"PDS returned a Patient this client cannot read: {exc}") from exc
