"""DoS stand-in: the Directory of Services v1.5 SOAP API, served from the published WSDL
(`dos_contract/`, service `PathWayService`, port `PathWayServiceSoap12`, SOAP 1.2).

Every request is parsed safely and validated against the published schema; every answer is
built in the published shape and validated again before it leaves (a mismatch is our bug: a
500 Fault, logged). Errors are SOAP 1.2 Faults carrying DoS's numeric codes. The search follows
`ccs_search_logic_v1_5.md` as far as the sample directory can: postcode, search distance (km,
a square box), symptom group, gender, symptom discriminators, disposition, age, capacity;
results ordered by straight-line distance (reported in miles, as published).
"""

from __future__ import annotations

import hmac
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree
from lxml.builder import ElementMaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from uec_booking.spine import dos_search
from uec_booking.spine.dos_search import SearchCase
from uec_booking.spine.dos_soap import (
    CONTENT_TYPE,
    MAX_BODY_BYTES,
    REASONS,
    SEARCH_DATE_INVALID,
    SERVICE_VERSION,
    TNS,
    DosFault,
    envelope,
    fault_envelope,
    parse_request,
    soap_actions,
    text_of,
    validate,
    wsdl_for,
)

MOUNT_PATH = "/app/api/webservices"
log = logging.getLogger("uec_booking.spine.dos")
W = ElementMaker(namespace=TNS, nsmap={None: TNS})
haversine_miles = dos_search.haversine_miles


def _stamp(moment: datetime) -> str:
    """`2019-01-20T08:44:00+00:00`, the form the field definitions show."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def _search_time(value: str | None, now: datetime) -> datetime:
    if value is None or not value.strip():
        return now
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DosFault(108, SEARCH_DATE_INVALID, detail=value) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment > now + timedelta(days=365):
        raise DosFault(109, REASONS[109].format(value=value))
    if moment < now - timedelta(minutes=1):
        raise DosFault(110, REASONS[110].replace("[value]", value))
    return moment


def _case(c: etree._Element) -> SearchCase:
    """The `c` element (already schema-valid) as the search's input."""
    distance = text_of(c, "searchDistance")
    return SearchCase(
        postcode=text_of(c, "postcode") or "",
        age=int(text_of(c, "age") or 0),
        age_format=text_of(c, "ageFormat") or "",
        disposition=int(text_of(c, "disposition") or 0),
        symptom_group=int(text_of(c, "symptomGroup") or 0),
        discriminators=[
            int(n.text or 0) for n in c.iterfind(f"{{{TNS}}}symptomDiscriminatorList/{{{TNS}}}int")
        ],
        search_distance=int(distance) if distance is not None else None,
        force_distance=(text_of(c, "forceSearchDistance") or "").strip() in ("true", "1"),
        gender=text_of(c, "gender") or "I",
    )


def _endpoints(service: dict[str, Any]) -> etree._Element:
    """The booking endpoint (FHIR Scheduling, `ASID:<asid>`) of a service that has one."""
    endpoints = W.serviceEndpoints()
    if service.get("asid"):
        endpoints.append(
            W.endpoint(
                W.endpointOrder("1"),
                W.transport("http"),
                W.format("FHIR"),
                W.interaction("Scheduling"),
                W.businessScenario("Primary"),
                W.address(f"ASID:{service['asid']}"),
                W.compression("N"),
                W.comment("UEC Appointments (CareConnect) booking endpoint"),
            )
        )
    return endpoints


def _destination(found: dos_search.Found, directory: dict[str, Any]) -> etree._Element:
    s = found.service
    org = dos_search.organization(directory, s)
    fields: list[Any] = [
        W.id(str(int(s["id"]))),
        W.capacity(s.get("capacity", "High")),
        W.name(s["name"] + (" (Catch-all)" if found.catch_all else "")),
    ]
    if s.get("phone"):
        fields.append(W.contactDetails(s["phone"]))
    if address := dos_search.address(directory, s):
        fields.append(W.address(address))
    fields += [
        W.postcode(s["postcode"]),
        W.serviceType(W.id(str(int(s.get("type_code", 0)))), W.name(s.get("type", ""))),
        W.odsCode(org.get("ods", "")),
        W.distance(f"{found.miles:.1f}"),
        W.openAllHours("true" if dos_search.open_all_hours(s) else "false"),
        _endpoints(s),
    ]
    sessions = dos_search.rota_sessions(s)
    if sessions:
        rota = W.rotaSessions()
        for day, (sh, sm), (eh, em) in sessions:
            rota.append(
                W.serviceCareItemRotaSession(
                    W.startDayOfWeek(day),
                    W.startTime(W.hours(str(sh)), W.minutes(str(sm))),
                    W.endDayOfWeek(day),
                    W.endTime(W.hours(str(eh)), W.minutes(str(em))),
                    W.status("Open"),
                )
            )
        fields.append(rota)
    # Service attributes: `requirebooking` ("booking only"), Boolean as TRUE/FALSE strings.
    fields.append(
        W.attributes(
            W.attribute(
                W.dataType("Boolean"),
                W.name("requirebooking"),
                W.description(
                    "This attribute identifies that the service can only be referred into "
                    "with an appointment."
                ),
                W.value("TRUE" if s.get("requirebooking") else "FALSE"),
            )
        )
    )
    low, high = dos_search.age_range_days(s)
    fields.append(W.serviceAgeRange(W.ageRange(W.daysFrom(f"{low:g}"), W.daysTo(f"{high:g}"))))
    return W.serviceCareSummaryDestination(*fields)


def check_capacity_summary(payload: etree._Element, directory: dict[str, Any]) -> etree._Element:
    c = payload.find(f"{{{TNS}}}c")
    assert c is not None  # the schema requires it
    now = datetime.now(UTC)
    when = _search_time(text_of(c, "searchDateTime"), now)
    case = _case(c)
    result = dos_search.search(directory, case)
    answer = W.CheckCapacitySummaryResponse(
        W.TransactionId(str(uuid.uuid4())),
        W.RequestedAtDateTime(_stamp(now)),
        W.SearchDateTime(_stamp(when)),
    )
    if result.age_in_days is not None:
        answer.append(W.CalculatedAgeInDays(f"{result.age_in_days:g}"))
    answer.append(W.SearchDistance(str(result.distance_km)))
    answer.append(W.SearchDistanceUsedSource(result.distance_source))
    answer.append(
        W.CheckCapacitySummaryResult(*(_destination(f, directory) for f in result.services))
    )
    return answer


def service_details_by_id(payload: etree._Element, directory: dict[str, Any]) -> etree._Element:
    wanted = (text_of(payload, "serviceId") or "").strip()
    services = dos_search.by_id_or_ods(directory, wanted)
    if not services:
        raise DosFault(103, detail=f"no service with id or ODS code {wanted!r}")
    return W.ServiceDetailsByIdResponse(
        W.services(
            *(
                W.service(
                    W.id(s["id"]),
                    W.odsCode(dos_search.organization(directory, s).get("ods", "")),
                    _endpoints(s),
                )
                for s in services
            )
        )
    )


def get_hospital_scores(payload: etree._Element, directory: dict[str, Any]) -> etree._Element:
    # The sandbox profiles no Beds or ED capacity grid: the published answer is an empty list.
    return W.GetHospitalScoresResponse(W.GetHospitalScoresResult())


OPERATIONS = {
    "CheckCapacitySummary": check_capacity_summary,
    "ServiceDetailsById": service_details_by_id,
    "GetHospitalScores": get_hospital_scores,
}


def _soap_action(request: Request) -> str | None:
    """The action: SOAP 1.2 carries it in the media type's `action` parameter."""
    for part in request.headers.get("content-type", "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "action":
            return value.strip().strip('"')
    header = request.headers.get("soapaction")
    return header.strip().strip('"') if header else None


class DosService:
    """The handler behind `/app/api/webservices`: WSDL on GET `?wsdl`, SOAP on POST."""

    def __init__(self, directory: dict[str, Any], *, username: str, password: str) -> None:
        self.directory = directory
        self.credentials = (username, password)

    def answer(self, body: bytes, action: str | None) -> etree._Element:
        request = parse_request(body)
        published = soap_actions()[request.operation]
        if action and action != published:
            raise DosFault(108, detail=f"soapAction {action!r} is not {published!r}")
        username = text_of(request.payload, "userInfo", "username")
        password = text_of(request.payload, "userInfo", "password")
        if username is None or password is None:
            raise DosFault(1001)
        expected_user, expected_password = self.credentials
        user_ok = hmac.compare_digest(username.encode(), expected_user.encode())
        password_ok = hmac.compare_digest(password.encode(), expected_password.encode())
        if not (user_ok and password_ok):
            raise DosFault(302)
        if request.service_version not in (None, "", SERVICE_VERSION):
            raise DosFault(107, detail=f"serviceVersion {request.service_version}; supported: 1.5")
        validate(request.payload)
        answer = OPERATIONS[request.operation](request.payload, self.directory)
        try:
            validate(answer)  # ours must match the contract too
        except DosFault as exc:
            raise RuntimeError(
                f"our {request.operation} answer breaks the schema: {exc.detail}"
            ) from None
        return answer

    async def handle(self, request: Request) -> Response:
        if request.method == "GET":
            if "wsdl" in {k.lower() for k in request.query_params}:
                version = request.query_params.get("wsdl") or SERVICE_VERSION
                if version != SERVICE_VERSION:
                    return PlainTextResponse(f"WSDL version {version} is not served here", 404)
                address = str(request.url.replace(query=""))
                return Response(wsdl_for(address), media_type="text/xml; charset=utf-8")
            return PlainTextResponse("PathWayService (DoS v1.5, SOAP 1.2): WSDL at ?wsdl")
        try:
            body = await _read_bounded(request)
            answer = self.answer(body, _soap_action(request))
        except DosFault as fault:
            # A client's error: one line, no traceback.
            log.info("DoS fault %s: %s", fault.code, fault.text())
            return Response(fault_envelope(fault), fault.status, media_type=CONTENT_TYPE)
        except Exception:
            log.exception("DoS stand-in failed on a request")
            return Response(fault_envelope(DosFault(500)), 500, media_type=CONTENT_TYPE)
        return Response(envelope(answer), media_type=CONTENT_TYPE)


async def _read_bounded(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise DosFault(108, detail=f"the request is larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise DosFault(108, detail=f"the request is larger than {MAX_BODY_BYTES} bytes")
    return bytes(body)


def create_app(directory: dict[str, Any], *, username: str, password: str) -> Starlette:
    """The DoS ASGI app: SOAP at `/app/api/webservices` (WSDL at `?wsdl`), and `/_health`."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    service = DosService(directory, username=username, password=password)
    # A Route, not a Mount: the real API's URL has no trailing slash to redirect to.
    return Starlette(
        routes=[
            Route("/_health", health),
            Route(MOUNT_PATH, service.handle, methods=["GET", "POST"]),
        ]
    )
