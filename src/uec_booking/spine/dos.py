"""DoS stand-in: the Directory of Services v1.5 SOAP API (SOAP 1.2, WSDL) with the two
operations the booking flow uses, CheckCapacitySummary and ServiceDetailsById.

Services come from the sample directory; distances are real (haversine from the case's
postcode), so the ordering a consumer sees is the one a real search would give.
"""

from __future__ import annotations

import hmac
import math
from typing import Any

from a2wsgi import WSGIMiddleware
from spyne import Application, Array, Fault, Integer, ServiceBase, rpc
from spyne.protocol.soap import Soap12
from spyne.server.wsgi import WsgiApplication
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from uec_booking.spine.dos_types import (
    TNS,
    Case,
    ContactDetail,
    Endpoint,
    ServiceCareSummaryDestination,
    ServiceDetail,
    ServiceType,
    ServiceVersion,
    UserInfo,
)

MOUNT_PATH = "/app/api/webservices"
MILES_PER_KM = 0.621371


def haversine_miles(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h)) * MILES_PER_KM


def _postcode_key(value: str) -> str:
    return value.replace(" ", "").upper()


def _check(ctx: Any, user: UserInfo | None) -> None:
    header = ctx.in_header
    if header is not None and header.version and header.version != "1.5":
        raise Fault(
            faultcode="Client.Version",
            faultstring=f"serviceVersion {header.version} is not supported (1.5)",
        )
    expected = ctx.app.dos_credentials
    if (
        user is None
        or not hmac.compare_digest(str(user.username or ""), expected[0])
        or not hmac.compare_digest(str(user.password or ""), expected[1])
    ):
        raise Fault(faultcode="Client.Authentication", faultstring="Invalid username or password")


class PathWayService(ServiceBase):  # type: ignore[misc]
    __in_header__ = ServiceVersion

    @rpc(
        UserInfo,
        Case,
        _returns=Array(ServiceCareSummaryDestination, type_name="CheckCapacitySummaryResult"),
    )
    def CheckCapacitySummary(
        ctx: Any, userInfo: UserInfo, c: Case
    ) -> list[ServiceCareSummaryDestination]:
        _check(ctx, userInfo)
        if (
            c is None
            or not c.postcode
            or c.age is None
            or not c.disposition
            or c.symptomGroup is None
        ):
            raise Fault(
                faultcode="Client.Validation",
                faultstring="c needs postcode, age, disposition and symptomGroup",
            )
        directory = ctx.app.dos_directory
        postcodes = {_postcode_key(k): v for k, v in directory["postcodes"].items()}
        origin = postcodes.get(_postcode_key(c.postcode))
        if origin is None:
            raise Fault(faultcode="Client.Validation", faultstring=f"Unknown postcode {c.postcode}")
        distance_limit = c.searchDistance or 60
        found = []
        for service in directory["healthcare_services"]:
            if (
                c.disposition not in service["dispositions"]
                or c.symptomGroup not in service["symptom_groups"]
            ):
                continue
            if not service["age_min"] <= c.age <= service["age_max"]:
                continue
            miles = haversine_miles(tuple(origin), (service["latitude"], service["longitude"]))
            if miles > distance_limit:
                continue
            found.append((miles, service))
        found.sort(key=lambda pair: (pair[0], pair[1]["id"]))
        orgs = {o["id"]: o for o in directory["organizations"]}
        return [
            ServiceCareSummaryDestination(
                id=int(s["id"]),
                name=s["name"],
                odsCode=orgs[s["organization"]]["ods"],
                serviceType=ServiceType(id=int(s["type_code"]), name=s["type"]),
                address=s["postcode"],
                postcode=s["postcode"],
                distance=round(miles, 1),
                requirebooking=bool(s["requirebooking"]),
                capacity="HIGH",
                contactDetails=s["phone"],
            )
            for miles, s in found
        ]

    @rpc(UserInfo, Integer, _returns=Array(ServiceDetail, type_name="services"))
    def ServiceDetailsById(ctx: Any, userInfo: UserInfo, serviceId: int) -> list[ServiceDetail]:
        _check(ctx, userInfo)
        directory = ctx.app.dos_directory
        service = next(
            (s for s in directory["healthcare_services"] if s["id"] == str(serviceId)), None
        )
        if service is None:
            raise Fault(faultcode="Client.NotFound", faultstring=f"No service with id {serviceId}")
        orgs = {o["id"]: o for o in directory["organizations"]}
        endpoints = []
        if service.get("asid"):
            endpoints.append(
                Endpoint(
                    endpointOrder=1,
                    transport="http",
                    format="FHIR",
                    interaction="Scheduling",
                    businessScenario="Primary",
                    address=f"ASID:{service['asid']}",
                    comment="UEC Appointments booking endpoint",
                    compression="uncompressed",
                )
            )
        return [
            ServiceDetail(
                id=int(service["id"]),
                name=service["name"],
                odsCode=orgs[service["organization"]]["ods"],
                contactDetails=[
                    ContactDetail(order=1, type="telno", name="Public", value=service["phone"])
                ],
                serviceEndpoints=endpoints,
            )
        ]


def soap_application(directory: dict[str, Any], *, username: str, password: str) -> WsgiApplication:
    application = Application(
        [PathWayService],
        tns=TNS,
        name="PathWayService",
        in_protocol=Soap12(validator="lxml"),
        out_protocol=Soap12(),
    )
    application.dos_directory = directory
    application.dos_credentials = (username, password)
    return WsgiApplication(application)


def create_app(directory: dict[str, Any], *, username: str, password: str) -> Starlette:
    """The DoS ASGI app: SOAP at `/app/api/webservices` (WSDL at `?wsdl`), and `/_health`."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    wsgi = soap_application(directory, username=username, password=password)
    # A Route, not a Mount: the real API's URL has no trailing slash to redirect to.
    soap = WSGIMiddleware(wsgi)  # type: ignore[arg-type]
    return Starlette(
        routes=[Route("/_health", health), Route(MOUNT_PATH, soap, methods=["GET", "POST"])]
    )
