"""PDS stand-in built to the published PDS FHIR API (R4), `spine/pds_contract/`: Patient read
by NHS number and search by demographics, for the consumer's "verify the patient before
booking" step.

As published: `X-Request-ID` is required and must be a UUID (400 `MISSING_VALUE` /
`INVALID_VALUE` otherwise); `X-Request-ID` and `X-Correlation-ID` are mirrored on every
response; a bearer token from the NHS API platform is required (401 `ACCESS_DENIED`),
except in the explicit open mode that stands in for the public PDS sandbox (where a token
is optional); errors are OperationOutcomes coded in
`https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode`, in the shapes of the
published sandbox's error stubs (`pds_contract/sandbox_errors/`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from uec_booking.fhir.errors import FhirError, ServiceUnavailable
from uec_booking.fhir.nhs_number import is_valid, normalise
from uec_booking.fhir.urls import NHS_NUMBER_SYSTEM
from uec_booking.tokens import TokenVerifier

log = logging.getLogger("uec_booking.spine.pds")

BASE_PATH = "/personal-demographics/FHIR/R4"
SPINE_R4_SYSTEM = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"
FHIR_JSON = "application/fhir+json"
VERIFICATION_EXTENSION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)
UUID_PATTERN = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
# The search parameters PDS knows (the published sandbox's VALID_PARAMS).
SEARCH_PARAMETERS = frozenset(
    {
        "_fuzzy-match",
        "_exact-match",
        "_history",
        "_max-results",
        "family",
        "given",
        "gender",
        "birthdate",
        "death-date",
        "history",
        "address-postcode",
        "address-postalcode",
        "general-practitioner",
        "email",
        "phone",
    }
)
# Spine R4 codes: (FHIR issue code, display, severity) as the published stubs have them.
SPINE_R4: dict[str, tuple[str, str, str]] = {
    "ACCESS_DENIED": ("forbidden", "Access Denied - Unauthorised", "error"),
    "ADDITIONAL_PROPERTIES": ("invariant", "Additional properties should not be included", "error"),
    "INVALID_RESOURCE_ID": ("value", "Resource Id is invalid", "error"),
    "INVALID_SEARCH_DATA": ("value", "Search data is invalid", "error"),
    "INVALID_VALUE": ("value", "Provided value is invalid", "error"),
    "MISSING_VALUE": ("required", "Required value is missing", "error"),
    "RESOURCE_NOT_FOUND": ("not-found", "Resource not found", "information"),
    "SERVICE_UNAVAILABLE": ("transient", "Service unavailable", "error"),
    "UNSUPPORTED_SERVICE": ("processing", "Unsupported Service", "error"),
}


class PdsError(Exception):
    """A PDS error response: its status, Spine R4 code and diagnostics (if any)."""

    def __init__(self, status: int, code: str, diagnostics: str | None = None) -> None:
        super().__init__(diagnostics or code)
        self.status, self.code, self.diagnostics = status, code, diagnostics


def outcome(code: str, diagnostics: str | None = None) -> dict[str, Any]:
    """An R4 OperationOutcome as PDS answers it (not the STU3 one the provider uses: PDS's
    published schema differs — no id or profile, `version: "1"`, `expression` a string)."""
    issue_code, display, severity = SPINE_R4[code]
    issue: dict[str, Any] = {
        "severity": severity,
        "code": issue_code,
        "details": {
            "coding": [
                {"system": SPINE_R4_SYSTEM, "version": "1", "code": code, "display": display}
            ]
        },
    }
    if diagnostics:
        issue["diagnostics"] = diagnostics
    return {"resourceType": "OperationOutcome", "issue": [issue]}


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


def _mirrored(request: Request) -> dict[str, str]:
    """The request's X-Request-ID and X-Correlation-ID, mirrored back (as published)."""
    headers = {}
    for name in ("X-Request-ID", "X-Correlation-ID"):
        value = request.headers.get(name)
        if value is not None and value.isascii() and value.isprintable() and len(value) <= 200:
            headers[name] = value
    return headers


def _json(request: Request, body: dict[str, Any], status: int, **extra: str) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=FHIR_JSON,
        headers={**_mirrored(request), "Cache-Control": "no-store", **extra},
    )


def create_app(
    directory: dict[str, Any],
    *,
    verifier: TokenVerifier | None = None,
    open_sandbox: bool = False,
) -> Starlette:
    """PDS: with `verifier` (the platform's tokens: its JWKS, issuer and audience) every
    request needs a valid bearer token; `open_sandbox=True` instead stands in for the public
    PDS sandbox, where the token is optional. One of the two must be chosen."""
    if verifier is None and not open_sandbox:
        raise ValueError("PDS needs a token verifier, or open_sandbox=True for an open sandbox")
    if verifier is None:
        log.warning("PDS OPEN SANDBOX MODE: no access token is required")
    patients = {p["nhs_number"]: p for p in directory["patients"]}

    async def guard(request: Request) -> None:
        request_id = request.headers.get("x-request-id")
        if not request_id:
            raise PdsError(
                400,
                "MISSING_VALUE",
                "Invalid request with error - X-Request-ID header must be supplied to access this resource",
            )
        if not UUID_PATTERN.match(request_id):
            shown = request_id[:64] if request_id.isprintable() else "?"
            raise PdsError(
                400, "INVALID_VALUE", f"Invalid value - '{shown}' in header 'X-Request-ID'"
            )
        authorization = request.headers.get("authorization")
        if verifier is None and not authorization:
            return  # the open sandbox: a token is optional
        if not authorization or not authorization.lower().startswith("bearer "):
            raise PdsError(401, "ACCESS_DENIED", "Missing access token")
        if verifier is None:
            return
        try:
            await verifier.verify(authorization)
        except ServiceUnavailable as exc:
            raise PdsError(503, "SERVICE_UNAVAILABLE", exc.diagnostics) from exc
        except FhirError as exc:
            raise PdsError(401, "ACCESS_DENIED", "Invalid Access Token") from exc

    async def read(request: Request) -> Response:
        await guard(request)
        number = request.path_params["nhs_number"]
        if not is_valid(normalise(number)) or normalise(number) != number:
            raise PdsError(400, "INVALID_RESOURCE_ID")
        patient = patients.get(number)
        if patient is None:
            raise PdsError(404, "RESOURCE_NOT_FOUND")
        resource = patient_resource(patient)
        return _json(request, resource, 200, ETag=f'W/"{resource["meta"]["versionId"]}"')

    def matches(p: dict[str, Any], q: Any, family: str, birth: str) -> bool:
        if p["family"].lower() != family.lower() or p["birth_date"] != birth:
            return False
        if q.get("gender") and q["gender"] != p["gender"]:
            return False
        postcode = q.get("address-postalcode") or q.get("address-postcode")
        if postcode and not _same_postcode(postcode, p["postcode"]):
            return False
        given = [g.lower() for g in q.getlist("given")]
        return not given or given[0] in (g.lower() for g in p["given"])

    async def search(request: Request) -> Response:
        q = request.query_params
        await guard(request)
        if not q:
            raise PdsError(400, "UNSUPPORTED_SERVICE")
        unexpected = sorted(set(q.keys()) - SEARCH_PARAMETERS)
        if unexpected:
            raise PdsError(
                400,
                "ADDITIONAL_PROPERTIES",
                "Invalid request with error - Additional properties are not allowed "
                f"('{unexpected[0][:64]}' was unexpected)",
            )
        if "address-postcode" in q and "address-postalcode" in q:
            raise PdsError(
                400,
                "INVALID_SEARCH_DATA",
                "Use address-postalcode or address-postcode, not both",
            )
        birth = (q.get("birthdate") or "").removeprefix("eq")
        if not birth:
            raise PdsError(
                400,
                "MISSING_VALUE",
                "Missing value - 'birth_date/birth_date_range_start/birth_date_range_end'",
            )
        family = q.get("family")
        if not family:
            raise PdsError(400, "INVALID_SEARCH_DATA", "Missing value - 'family'")
        if q.get("_max-results", "1") != "1":
            raise PdsError(
                400,
                "INVALID_VALUE",
                "Invalid value - '_max-results' must be 1 for application-restricted access",
            )
        base = f"{str(request.base_url).rstrip('/')}{BASE_PATH}"
        entries = [
            {
                "fullUrl": f"{base}/Patient/{p['nhs_number']}",
                "search": {"score": 1},
                "resource": patient_resource(p),
            }
            for p in patients.values()
            if matches(p, q, family, birth)
        ][:1]
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(entries),
            "entry": entries,
        }
        return _json(request, bundle, 200)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route(f"{BASE_PATH}/Patient/{{nhs_number}}", read),
            Route(f"{BASE_PATH}/Patient", search),
            Route("/_health", health),
        ],
        exception_handlers={PdsError: _refused},
    )


async def _refused(request: Request, error: Exception) -> Response:
    """The one handler: every refusal, whichever route raised it, as PDS's OperationOutcome."""
    if not isinstance(error, PdsError):  # registered for PdsError only
        raise error
    return _json(request, outcome(error.code, error.diagnostics), error.status)
