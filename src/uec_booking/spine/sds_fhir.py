"""SDS FHIR API stand-in: endpoint lookup as FHIR R4 (`/Endpoint`, `/Device`), as NHS
publishes it (`contracts/spine-directory-service.yaml`), over the same entries as the LDAP
stand-in (the LDIF is the one source).

    GET /spine-directory/FHIR/R4/Endpoint?identifier=https://fhir.nhs.uk/Id/nhsServiceInteractionId|<id>
                                         &identifier=https://fhir.nhs.uk/Id/nhsMhsPartyKey|<key>
    GET /spine-directory/FHIR/R4/Device?organization=https://fhir.nhs.uk/Id/ods-organization-code|<ods>
                                       &identifier=https://fhir.nhs.uk/Id/nhsServiceInteractionId|<id>
    header `apikey` (required)

One addition, named as such: `/Device` also takes `identifier=https://fhir.nhs.uk/Id/
nhsSpineASID|<asid>` in place of `organization`, because the booking standard starts from
a DoS ASID and knows no ODS code for it. Interaction ids match case-exactly, as in LDAP.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from uec_booking.fhir.bundle import searchset
from uec_booking.fhir.outcome import issue, operation_outcome

BASE_PATH = "/spine-directory/FHIR/R4"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
INTERACTION = "https://fhir.nhs.uk/Id/nhsServiceInteractionId"
PARTY_KEY = "https://fhir.nhs.uk/Id/nhsMhsPartyKey"
ASID = "https://fhir.nhs.uk/Id/nhsSpineASID"
FQDN = "https://fhir.nhs.uk/Id/nhsMhsFQDN"
CPA_ID = "https://fhir.nhs.uk/Id/nhsMhsCPAId"
MHS_ID = "https://fhir.nhs.uk/Id/nhsMHSId"
FHIR_JSON = "application/fhir+json"


def parse_ldif(text: str) -> list[dict[str, list[str]]]:
    """Entries of our own LDIF (no folded lines, no base64): attribute names lower-cased."""
    entries = []
    for block in text.strip().split("\n\n"):
        entry: dict[str, list[str]] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            entry.setdefault(name.lower(), []).append(value)
        entries.append(entry)
    return entries


def _one(entry: dict[str, list[str]], name: str) -> str:
    return (entry.get(name.lower()) or [""])[0]


def _id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts))).upper()


def endpoint_resource(mhs: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "resourceType": "Endpoint",
        "id": _id("mhs", _one(mhs, "uniqueIdentifier")),
        "status": "active",
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "hl7-fhir-rest",
            "display": "HL7 FHIR",
        },
        "payloadType": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type",
                        "code": "any",
                        "display": "Any",
                    }
                ]
            }
        ],
        "address": _one(mhs, "nhsMHSEndPoint"),
        "managingOrganization": {"identifier": {"system": ODS, "value": _one(mhs, "nhsIDCode")}},
        "identifier": [
            {"system": FQDN, "value": _one(mhs, "nhsMhsFQDN")},
            {"system": PARTY_KEY, "value": _one(mhs, "nhsMHSPartyKey")},
            {"system": CPA_ID, "value": _one(mhs, "nhsMhsCPAId")},
            {"system": MHS_ID, "value": _one(mhs, "nhsMhsCPAId")},
        ],
        "extension": [
            {
                "url": "https://fhir.nhs.uk/StructureDefinition/Extension-SDS-NhsServiceInteractionId",
                "valueReference": {
                    "identifier": {"system": INTERACTION, "value": _one(mhs, "nhsMhsSvcIA")}
                },
            }
        ],
    }


def device_resource(nhs_as: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "id": _id("as", _one(nhs_as, "uniqueIdentifier")),
        "identifier": [
            {"system": ASID, "value": _one(nhs_as, "uniqueIdentifier")},
            {"system": PARTY_KEY, "value": _one(nhs_as, "nhsMHSPartyKey")},
        ],
        "extension": [
            {
                "url": "https://fhir.nhs.uk/StructureDefinition/Extension-SDS-NhsServiceInteractionId",
                "valueReference": {"identifier": {"system": INTERACTION, "value": value}},
            }
            for value in nhs_as.get("nhsassvcia", [])
        ],
        "owner": {"identifier": {"system": ODS, "value": _one(nhs_as, "nhsIDCode")}},
    }


def _error(status: int, code: str, diagnostics: str) -> Response:
    body = operation_outcome(issue(code=code, diagnostics=diagnostics))
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


def _identifiers(request: Request) -> dict[str, str] | Response:
    found: dict[str, str] = {}
    for value in request.query_params.getlist("identifier"):
        system, bar, code = value.partition("|")
        if not bar or not code or system not in (INTERACTION, PARTY_KEY, ASID):
            return _error(
                400, "invalid", f"identifier {value!r} is not system|value of a known system"
            )
        if system in found:
            return _error(400, "invalid", f"identifier {system} is given twice")
        found[system] = code
    organization = request.query_params.get("organization")
    if organization is not None:
        system, bar, code = organization.partition("|")
        if system != ODS or not code:
            return _error(400, "invalid", f"organization must be {ODS}|<ODS code>")
        found[ODS] = code
    return found


def create_app(ldif_text: str, *, api_key: str) -> Starlette:
    """The SDS FHIR API over the entries of `ldif_text`, guarded by `api_key`."""
    entries = parse_ldif(ldif_text)
    classes = [{c.lower() for c in e.get("objectclass", [])} for e in entries]
    mhs_entries = [e for e, c in zip(entries, classes, strict=True) if "nhsmhs" in c]
    as_entries = [e for e, c in zip(entries, classes, strict=True) if "nhsas" in c]

    def guarded(request: Request) -> dict[str, str] | Response:
        given = request.headers.get("apikey", "")
        if not given or not hmac.compare_digest(given.encode(), api_key.encode()):
            return _error(401, "security", "a valid apikey header is required")
        return _identifiers(request)

    def bundle(request: Request, resources: list[dict[str, Any]]) -> Response:
        body = searchset(
            base_url=str(request.base_url).rstrip("/") + BASE_PATH,
            matches=resources,
            self_link=str(request.url),
        )
        return JSONResponse(body, media_type=FHIR_JSON)

    async def endpoint(request: Request) -> Response:
        query = guarded(request)
        if isinstance(query, Response):
            return query
        if not (INTERACTION in query or PARTY_KEY in query) or (
            ODS not in query and not (INTERACTION in query and PARTY_KEY in query)
        ):
            return _error(
                400,
                "required",
                "give organization, or both nhsServiceInteractionId and nhsMhsPartyKey",
            )
        found = [
            endpoint_resource(m)
            for m in mhs_entries
            if (INTERACTION not in query or _one(m, "nhsMhsSvcIA") == query[INTERACTION])
            and (
                PARTY_KEY not in query
                or _one(m, "nhsMHSPartyKey").lower() == query[PARTY_KEY].lower()
            )
            and (ODS not in query or _one(m, "nhsIDCode") == query[ODS])
        ]
        return bundle(request, found)

    async def device(request: Request) -> Response:
        query = guarded(request)
        if isinstance(query, Response):
            return query
        if INTERACTION not in query or (ODS not in query and ASID not in query):
            return _error(
                400, "required", "give organization (or nhsSpineASID) and nhsServiceInteractionId"
            )
        found = [
            device_resource(a)
            for a in as_entries
            if query[INTERACTION] in a.get("nhsassvcia", [])
            and (ODS not in query or _one(a, "nhsIDCode") == query[ODS])
            and (ASID not in query or _one(a, "uniqueIdentifier") == query[ASID])
            and (
                PARTY_KEY not in query
                or _one(a, "nhsMHSPartyKey").lower() == query[PARTY_KEY].lower()
            )
        ]
        return bundle(request, found)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/_health", health),
            Route(f"{BASE_PATH}/Endpoint", endpoint),
            Route(f"{BASE_PATH}/Device", device),
        ]
    )
