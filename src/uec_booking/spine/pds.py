"""PDS stand-in in the shape of the NHS PDS FHIR API (R4): Patient read by NHS number and
search by demographics, for the consumer's "verify the patient before booking" step."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from uec_booking.fhir.errors import BadRequest, FhirError, NotFound
from uec_booking.fhir.http import error_response, fhir_response
from uec_booking.fhir.nhs_number import is_valid, normalise
from uec_booking.fhir.urls import NHS_NUMBER_SYSTEM

BASE_PATH = "/personal-demographics/FHIR/R4"
VERIFICATION_EXTENSION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)


def patient_resource(p: dict[str, Any]) -> dict[str, Any]:
    """An R4 Patient as PDS returns it."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": p["nhs_number"],
        "meta": {"versionId": "2"},
        "identifier": [
            {
                "system": NHS_NUMBER_SYSTEM,
                "value": p["nhs_number"],
                "extension": [
                    {
                        "url": VERIFICATION_EXTENSION,
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus",
                                    "code": "01",
                                    "display": "Number present and verified",
                                }
                            ]
                        },
                    }
                ],
            }
        ],
        "name": [
            {"use": "usual", "family": p["family"], "given": p["given"], "prefix": p["prefix"]}
        ],
        "gender": p["gender"],
        "birthDate": p["birth_date"],
        "address": [{"use": "home", "line": [*p["lines"], p["city"]], "postalCode": p["postcode"]}],
    }
    if p.get("phone"):
        resource["telecom"] = [{"system": "phone", "value": p["phone"], "use": "home"}]
    return resource


def _same_postcode(a: str, b: str) -> bool:
    return a.replace(" ", "").upper() == b.replace(" ", "").upper()


def create_app(directory: dict[str, Any]) -> Starlette:
    patients = {p["nhs_number"]: p for p in directory["patients"]}

    def respond(request: Request, resource: dict[str, Any], status: int = 200) -> Response:
        headers = {}
        if "x-request-id" in request.headers:
            headers["X-Request-ID"] = request.headers["x-request-id"][:128]
        if resource.get("resourceType") == "Patient":
            headers["ETag"] = f'W/"{resource["meta"]["versionId"]}"'
        return fhir_response(request, resource, status=status, headers=headers)

    async def read(request: Request) -> Response:
        number = normalise(request.path_params["nhs_number"])
        try:
            if not is_valid(number):
                raise BadRequest(
                    f"Invalid NHS number: {number!r}", spine_code="INVALID_RESOURCE_ID"
                )
            patient = patients.get(number)
            if patient is None:
                raise NotFound(f"Patient {number} not found", spine_code="RESOURCE_NOT_FOUND")
        except FhirError as error:
            return error_response(request, error)
        return respond(request, patient_resource(patient))

    async def search(request: Request) -> Response:
        q = request.query_params
        family, birth = q.get("family"), (q.get("birthdate") or "").removeprefix("eq")
        if not family or not birth:
            return error_response(
                request,
                BadRequest("family and birthdate are required", spine_code="INVALID_SEARCH_DATA"),
            )
        entries = []
        for p in patients.values():
            if p["family"].lower() != family.lower() or p["birth_date"] != birth:
                continue
            if q.get("gender") and q["gender"] != p["gender"]:
                continue
            if q.get("address-postcode") and not _same_postcode(
                q["address-postcode"], p["postcode"]
            ):
                continue
            if q.get("given") and q["given"].lower() not in (g.lower() for g in p["given"]):
                continue
            entries.append(
                {
                    "fullUrl": f"{str(request.base_url).rstrip('/')}{BASE_PATH}/Patient/{p['nhs_number']}",
                    "search": {"score": 1},
                    "resource": patient_resource(p),
                }
            )
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(entries[:1]),
            "entry": entries[:1],
        }
        return respond(request, bundle)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route(f"{BASE_PATH}/Patient/{{nhs_number}}", read),
            Route(f"{BASE_PATH}/Patient", search),
            Route("/_health", health),
        ]
    )
