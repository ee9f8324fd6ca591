"""The consumer's DoS client: CheckCapacitySummary and ServiceDetailsById of the DoS v1.5 SOAP
API through zeep, built from the project's copy of the published WSDL (no hand-made XML, and
no dependence on what a server's `?wsdl` happens to say). The service address is the
configured one (`UEC_DOS_WSDL`: the service URL, with or without `?wsdl`).

Faults carry DoS's numeric codes (`soap_api_errors_v1_5.md`); each becomes a consumer error
of its kind with `code` set.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, date
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.helpers import serialize_object
from zeep.plugins import Plugin
from zeep.transports import Transport

from uec_booking.consumer.dispositions import dos_disposition_id
from uec_booking.consumer.errors import (
    DosAuthError,
    DosCaseRejected,
    DosError,
    DosNoServices,
    DosServiceNotFound,
    DosUnavailable,
    DosVersionUnsupported,
    ServiceUnreachable,
)
from uec_booking.consumer.models import DosCase, DosEndpoint, DosService, DosServiceDetails

SERVICE_VERSION = "1.5"
TNS = "https://nww.pathwaysdos.nhs.uk/app/api/webservices"
BINDING = f"{{{TNS}}}PathWayServiceSoap12"
GENDERS = ("M", "F", "I")
AGE_FORMATS = ("Days", "Months", "Years", "AgeGroup")
CASE_CODES = {101, 104, 105, 106, 109, 110, 113, *range(114, 122)}


def contract_wsdl() -> str:
    """The project's copy of the published v1.5 WSDL (package data beside the stand-in)."""
    wsdl = resources.files("uec_booking.spine").joinpath("dos_contract", "pathwayservice_v1_5.wsdl")
    return str(wsdl)


def service_address(configured: str) -> str:
    """The SOAP endpoint: the configured URL without its query (`…/webservices?wsdl`)."""
    parts = urlsplit(configured)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def case_age(birth_date: date, today: date) -> tuple[int, str]:
    """Age and ageFormat as v1.5 wants them: Days under a month (0-31), Months under two
    years (1-23), Years from two (summary_1.5_changes.md, "Age Functionality")."""
    months = (today.year - birth_date.year) * 12 + today.month - birth_date.month
    months -= today.day < birth_date.day
    if months < 1:
        return (today - birth_date).days, "Days"
    if months < 24:
        return months, "Months"
    return months // 12, "Years"


def _ci(mapping: Any, name: str) -> Any:
    """An element by name, whatever its case (the DoS docs are not consistent)."""
    if not isinstance(mapping, dict):
        return None
    for key, value in mapping.items():
        if key.lower() == name.lower():
            return value
    return None


def _items(value: Any, inner: str) -> list[dict[str, Any]]:
    """An ArrayOfX as zeep gives it: `{inner: [...]}`, a bare list, or None."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = _ci(value, inner) or []
    return [v for v in value if isinstance(v, dict)]


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _miles(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _endpoints(service: dict[str, Any]) -> list[DosEndpoint]:
    return [
        DosEndpoint(
            transport=str(_ci(e, "transport") or ""),
            format=str(_ci(e, "format") or ""),
            interaction=str(_ci(e, "interaction") or ""),
            address=str(_ci(e, "address") or ""),
            order=_ci(e, "endpointOrder") or _ci(e, "order"),
            business_scenario=_ci(e, "businessScenario"),
            compression=_ci(e, "compression"),
            comment=_ci(e, "comment"),
        )
        for e in _items(_ci(service, "serviceEndpoints"), "endpoint")
    ]


def _requirebooking(service: dict[str, Any]) -> bool:
    """The `requirebooking` service attribute (Boolean, 'TRUE'/'FALSE' strings)."""
    return any(
        str(_ci(a, "name") or "").lower() == "requirebooking"
        and str(_ci(a, "value") or "").strip().upper() == "TRUE"
        for a in _items(_ci(service, "attributes"), "attribute")
    )


def _fault_error(exc: zeep.exceptions.Fault) -> DosError:
    """A DoS fault as the consumer error of its kind. DoS puts its number in Code/Value; a
    Subcode is read too, for servers that follow SOAP 1.2's fault-code rules."""
    candidates = [str(exc.code or "")] + [
        getattr(s, "localname", str(s)) for s in (exc.subcodes or [])
    ]
    code = next((int(c.strip()) for c in candidates if c.strip().isdigit()), None)
    message = f"DoS fault {code}: {exc.message}" if code else f"DoS fault: {exc.message}"
    if code in (302, 303, 300, 1001):
        return DosAuthError(f"DoS refused the credentials ({message})", code=code)
    if code == 103:
        return DosServiceNotFound(message, code=code)
    if code == 102:
        return DosNoServices(message, code=code)
    if code == 107:
        return DosVersionUnsupported(message, code=code)
    if code in CASE_CODES:
        return DosCaseRejected(f"DoS refused the case ({message})", code=code)
    if code in (100, 500, 504):
        return DosUnavailable(message, code=code)
    return DosError(message, code=code)


class DosClient:
    """Find services for a case, and a service's endpoints.

    dos = DosClient(wsdl="https://…/app/api/webservices", username="…", password="…")
    services = await dos.check_capacity_summary(DosCase(postcode="LS1 6AE", age=40, gender="F",
        disposition="Dx05", symptom_group=1010, symptom_discriminators=[4003]))
    """

    def __init__(
        self,
        *,
        wsdl: str,
        username: str,
        password: str,
        timeout: float = 10.0,
        plugins: Sequence[Plugin] = (),
    ) -> None:
        self.address = service_address(wsdl)
        self._user = {"username": username, "password": password}
        self.timeout = timeout
        self._plugins = list(plugins)
        self._service: Any = None
        self._lock = threading.Lock()

    def _zeep(self) -> Any:
        with self._lock:
            if self._service is None:
                transport = Transport(timeout=self.timeout, operation_timeout=self.timeout)
                settings = zeep.Settings(forbid_dtd=True, forbid_entities=True)
                client = zeep.Client(
                    contract_wsdl(), transport=transport, settings=settings, plugins=self._plugins
                )
                self._service = client.create_service(BINDING, self.address)
            return self._service

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            result = getattr(self._zeep(), operation)(
                userInfo=self._user, _soapheaders={"ServiceVersion": SERVICE_VERSION}, **kwargs
            )
        except zeep.exceptions.Fault as exc:
            raise _fault_error(exc) from exc
        except zeep.exceptions.TransportError as exc:
            raise ServiceUnreachable(f"DoS answered HTTP {exc.status_code}") from exc
        except (requests.RequestException, OSError) as exc:
            raise ServiceUnreachable(f"DoS unreachable: {exc}") from exc
        except (zeep.exceptions.Error, etree.XMLSyntaxError, ValueError) as exc:
            raise DosError(f"DoS answered something this client cannot read: {exc}") from exc
        return serialize_object(result, dict)

    @staticmethod
    def case_element(case: DosCase) -> dict[str, Any]:
        """The `c` element's values, checked where DoS would refuse them."""
        if case.gender not in GENDERS:
            raise DosCaseRejected(f"gender {case.gender!r} is not one of M, F, I", code=106)
        if case.age_format not in AGE_FORMATS:
            raise DosCaseRejected(f"ageFormat {case.age_format!r} is not valid", code=119)
        if not case.symptom_discriminators:
            raise DosCaseRejected(
                "a CheckCapacitySummary needs at least one symptom discriminator", code=104
            )
        try:
            disposition = dos_disposition_id(case.disposition)
        except ValueError as exc:
            raise DosCaseRejected(str(exc), code=121) from exc
        when = case.search_date_time
        return {
            "caseRef": case.case_ref,
            "postcode": case.postcode,
            "surgery": case.surgery,
            "age": case.age,
            "ageFormat": case.age_format,
            "disposition": disposition,
            "symptomGroup": case.symptom_group,
            "symptomDiscriminatorList": {"int": list(case.symptom_discriminators)},
            "searchDistance": case.search_distance,
            "forceSearchDistance": case.force_search_distance,
            "gender": case.gender,
            "searchDateTime": when.astimezone(UTC).isoformat(timespec="seconds") if when else None,
        }

    async def check_capacity_summary(self, case: DosCase) -> list[DosService]:
        c = self.case_element(case)
        result = await asyncio.to_thread(self._call, "CheckCapacitySummary", c=c)
        services = []
        for s in _items(_ci(result, "CheckCapacitySummaryResult"), "serviceCareSummaryDestination"):
            services.append(
                DosService(
                    id=str(_ci(s, "id")),
                    name=str(_ci(s, "name") or _ci(s, "publicName") or ""),
                    service_type=str(_ci(_ci(s, "serviceType"), "name") or ""),
                    postcode=_str(_ci(s, "postcode")),
                    distance_miles=_miles(_ci(s, "distance")),
                    requirebooking=_requirebooking(s),
                    capacity=_str(_ci(s, "capacity")),
                    ods_code=_str(_ci(s, "odsCode")),
                    address=_str(_ci(s, "address")),
                    contact_details=_str(_ci(s, "contactDetails")),
                    endpoints=_endpoints(s),
                )
            )
        return services

    async def service_details_by_id(self, service_id: str) -> DosServiceDetails:
        """By DoS service id or ODS code (the published `serviceId` takes either)."""
        wanted = str(service_id).strip()
        if not wanted:
            raise DosServiceNotFound("no service id given")
        result = await asyncio.to_thread(self._call, "ServiceDetailsById", serviceId=wanted)
        # zeep hands a one-child wrapper (`services`) over as its list.
        services = _items(
            result if isinstance(result, list) else _ci(result, "services"), "service"
        )
        if not services:
            raise DosServiceNotFound(f"DoS has no service {wanted}", code=103)
        service = next((s for s in services if str(_ci(s, "id")) == wanted), services[0])
        found = str(_ci(service, "id"))
        return DosServiceDetails(
            id=found,
            name=f"DoS service {found}",
            phone=None,
            endpoints=_endpoints(service),
            ods_code=_str(_ci(service, "odsCode")),
        )
