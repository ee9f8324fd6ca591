"""The consumer's PDS client: a Spine-verified NHS number before any booking (the seed).

Built to the PDS FHIR API as published (`spine/pds_contract/`): every request carries a new
`X-Request-ID` (a UUID; kept on a retry of the same request), the journey's
`X-Correlation-ID`, and a bearer token from the NHS API platform (`PlatformTokens`) unless
the PDS is the open public sandbox."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from uec_booking.consumer.errors import (
    DemographicsMismatch,
    InvalidNhsNumber,
    PatientNotFound,
    PdsError,
    ServiceUnreachable,
)
from uec_booking.consumer.http_service import HttpService
from uec_booking.consumer.models import VerifiedPatient
from uec_booking.consumer.platform_auth import PlatformTokens
from uec_booking.fhir.nhs_number import is_valid, normalise
from uec_booking.fhir.urls import NHS_NUMBER_SYSTEM


def _postcode(value: str | None) -> str:
    return (value or "").replace(" ", "").upper()


class PdsClient(HttpService):
    """Verify a patient on PDS.

    pds = PdsClient(base_url="https://…/personal-demographics/FHIR/R4", tokens=platform)
    patient = await pds.verify(nhs_number="9000000009", postcode="LS1 6AE",
                               correlation_id=trace_id)
    """

    def __init__(
        self,
        *,
        base_url: str,
        tokens: PlatformTokens | None = None,
        end_user_ods: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(timeout, transport)
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.end_user_ods = end_user_ods

    async def _get(self, path: str, correlation_id: str | None) -> httpx.Response:
        request_id = str(uuid.uuid4())  # the same on the one retry after a refused token
        async with self._client() as client:
            for attempt in range(2):
                headers = {"Accept": "application/fhir+json", "X-Request-ID": request_id}
                if correlation_id:
                    headers["X-Correlation-ID"] = correlation_id
                if self.end_user_ods:
                    headers["NHSD-End-User-Organisation-ODS"] = self.end_user_ods
                if self.tokens is not None:
                    headers["Authorization"] = f"Bearer {await self.tokens.token()}"
                response = await client.get(f"{self.base_url}{path}", headers=headers)
                if response.status_code == 401 and self.tokens is not None and attempt == 0:
                    self.tokens.invalidate()  # expired or revoked early: one fresh token
                    continue
                return response
        raise AssertionError("unreachable")

    async def verify(
        self,
        *,
        nhs_number: str,
        postcode: str | None = None,
        family: str | None = None,
        birth_date: str | None = None,
        correlation_id: str | None = None,
    ) -> VerifiedPatient:
        number = normalise(nhs_number)
        if not is_valid(number):
            raise InvalidNhsNumber(f"{nhs_number!r} is not a valid NHS number")
        try:
            response = await self._get(f"/Patient/{number}", correlation_id)
        except httpx.HTTPError as exc:
            raise ServiceUnreachable(f"PDS unreachable: {exc}") from exc
        _raise_for_outcome(response, number)
        try:
            body = response.json()
        except ValueError as exc:
            raise PdsError("PDS answered 200 without JSON") from exc
        patient = self._parse(body)
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


def _spine_code(response: httpx.Response) -> tuple[str | None, str]:
    """The R4 Spine error code and diagnostics of a PDS OperationOutcome, if it has one."""
    try:
        issue = response.json()["issue"][0]
        code = issue.get("details", {}).get("coding", [{}])[0].get("code")
        return code, str(issue.get("diagnostics") or "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None, ""


def _raise_for_outcome(response: httpx.Response, number: str) -> None:
    """PDS's published statuses and codes (patient-get.yaml) as the consumer's errors."""
    status = response.status_code
    if status == 200:
        return
    code, diagnostics = _spine_code(response)
    said = f"{code}: {diagnostics}" if code else f"HTTP {status}"
    if status == 404:
        raise PatientNotFound(f"PDS has no patient with NHS number {number} ({said})")
    if status == 400 and code == "INVALID_RESOURCE_ID":
        raise InvalidNhsNumber(f"PDS refused NHS number {number}")
    if status in (401, 403):
        raise PdsError(f"PDS refused access ({status} {said}): check the platform token")
    if status in (408, 429) or status >= 500:
        raise ServiceUnreachable(f"PDS answered {status} ({said})")
    raise PdsError(f"PDS answered {status} ({said})")
