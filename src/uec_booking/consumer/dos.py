"""The consumer's DoS client: CheckCapacitySummary and ServiceDetailsById through zeep, from
the service's own WSDL (no hand-made XML)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import requests
import zeep
import zeep.exceptions
from zeep.helpers import serialize_object
from zeep.transports import Transport

from uec_booking.consumer.errors import (
    DosAuthError,
    DosError,
    DosServiceNotFound,
    ServiceUnavailable,
)
from uec_booking.consumer.models import DosCase, DosEndpoint, DosService, DosServiceDetails

SERVICE_VERSION = "1.5"
TNS = "https://nww.pathwaysdos.nhs.uk/app/api/webservices"


def _ci(mapping: dict[str, Any], name: str) -> Any:
    """An element by name, whatever its case (the DoS docs are not consistent)."""
    for key, value in mapping.items():
        if key.lower() == name.lower():
            return value
    return None


def _items(value: Any, inner: str) -> list[dict[str, Any]]:
    """zeep gives an array as a list, or as `{inner: [...]}`, or None."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = _ci(value, inner) or []
    return [v for v in value if isinstance(v, dict)]


class DosClient:
    """Find services for a case, and a service's details.

    dos = DosClient(wsdl="https://…/app/api/webservices?wsdl", username="…", password="…")
    services = await dos.check_capacity_summary(DosCase(postcode="LS1 6AE", age=40, gender="F",
                                                        disposition="Dx05", symptom_group=1010))
    """

    def __init__(self, *, wsdl: str, username: str, password: str, timeout: float = 10.0) -> None:
        self.wsdl = wsdl
        self._user = {"username": username, "password": password}
        self.timeout = timeout
        self._client: zeep.Client | None = None
        self._lock = threading.Lock()

    def _zeep(self) -> zeep.Client:
        with self._lock:
            if self._client is None:
                transport = Transport(timeout=self.timeout, operation_timeout=self.timeout)
                self._client = zeep.Client(self.wsdl, transport=transport)
            return self._client

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            client = self._zeep()
            header = self._version_header(client)
            result = getattr(client.service, operation)(
                userInfo=self._user, _soapheaders=header, **kwargs
            )
        except zeep.exceptions.Fault as exc:
            code = str(exc.code or "") + " " + str(exc.subcodes or "")
            message = str(exc.message)
            if "Authentication" in code or "password" in message.lower():
                raise DosAuthError(f"DoS refused the credentials: {message}") from exc
            if "NotFound" in code or "no service" in message.lower():
                raise DosServiceNotFound(message) from exc
            raise DosError(f"DoS fault: {message}") from exc
        except (requests.RequestException, OSError) as exc:
            raise ServiceUnavailable(f"DoS unreachable: {exc}") from exc
        except (zeep.exceptions.Error, ValueError) as exc:
            raise DosError(f"DoS answered something this client cannot read: {exc}") from exc
        return serialize_object(result, dict)

    @staticmethod
    def _version_header(client: zeep.Client) -> list[Any]:
        """The `serviceVersion` SOAP header, when the WSDL declares it."""
        try:
            element = client.get_element(f"{{{TNS}}}serviceVersion")
        except (LookupError, zeep.exceptions.Error):
            return []
        return [element(version=SERVICE_VERSION)]

    async def check_capacity_summary(self, case: DosCase) -> list[DosService]:
        c = {
            "postcode": case.postcode,
            "age": case.age,
            "ageFormat": "Years",
            "disposition": case.disposition,
            "symptomGroup": case.symptom_group,
            "symptomDiscriminatorList": {"integer": case.symptom_discriminators},
            "searchDistance": case.search_distance,
            "gender": case.gender,
        }
        result = await asyncio.to_thread(self._call, "CheckCapacitySummary", c=c)
        services = []
        for s in _items(result, "ServiceCareSummaryDestination"):
            service_type = _ci(s, "serviceType") or {}
            services.append(
                DosService(
                    id=str(_ci(s, "id")),
                    name=str(_ci(s, "name") or ""),
                    service_type=str(_ci(service_type, "name") or ""),
                    postcode=_ci(s, "postcode"),
                    distance_miles=_ci(s, "distance"),
                    requirebooking=bool(_ci(s, "requirebooking")),
                )
            )
        return services

    async def service_details_by_id(self, service_id: str) -> DosServiceDetails:
        if not str(service_id).isdigit():
            raise DosServiceNotFound(f"{service_id!r} is not a DoS service id")
        result = await asyncio.to_thread(
            self._call, "ServiceDetailsById", serviceId=int(service_id)
        )
        services = _items(result, "service")
        if not services:
            raise DosServiceNotFound(f"DoS has no service {service_id}")
        service = services[0]
        contacts = _items(_ci(service, "contactDetails"), "contactDetail")
        endpoints = [
            DosEndpoint(
                transport=str(_ci(e, "transport") or ""),
                format=str(_ci(e, "format") or ""),
                interaction=str(_ci(e, "interaction") or ""),
                address=str(_ci(e, "address") or ""),
                order=_ci(e, "endpointOrder") or _ci(e, "order"),
                business_scenario=_ci(e, "businessScenario"),
            )
            for e in _items(_ci(service, "serviceEndpoints"), "endpoint")
        ]
        return DosServiceDetails(
            id=str(_ci(service, "id")),
            name=str(_ci(service, "name") or ""),
            phone=next((str(_ci(c, "value")) for c in contacts if _ci(c, "value")), None),
            endpoints=endpoints,
        )
