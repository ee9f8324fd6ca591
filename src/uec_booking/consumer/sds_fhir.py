"""The consumer's client for the SDS FHIR API (`UEC_SDS_MODE=fhir`): the same answers as
`consumer.sds.SdsClient` over LDAP, from `/Device` (ASID → party key) and `/Endpoint`
(party key + interaction → address), with the `apikey` header the API requires.

    sds = SdsFhirClient(base_url="https://…/spine-directory/FHIR/R4", api_key="…")
    endpoint = await sds.endpoint_for("200000000101")
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from uec_booking.consumer.errors import AsNotFound, SdsError, ServiceUnreachable, SeveralEndpoints
from uec_booking.consumer.http_service import HttpService
from uec_booking.consumer.sds import one_endpoint
from uec_booking.fhir.interactions import Interaction

INTERACTION = "https://fhir.nhs.uk/Id/nhsServiceInteractionId"
PARTY_KEY = "https://fhir.nhs.uk/Id/nhsMhsPartyKey"
ASID = "https://fhir.nhs.uk/Id/nhsSpineASID"


def _identifier(resource: dict[str, Any], system: str) -> str | None:
    return next(
        (i.get("value") for i in resource.get("identifier", []) if i.get("system") == system),
        None,
    )


class SdsFhirClient(HttpService):
    """Find a provider's FHIR endpoint for an interaction through the SDS FHIR API."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 5.0,
        cache_ttl: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(timeout, transport)
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.cache_ttl = cache_ttl
        self._cache: dict[tuple[str, ...], tuple[list[dict[str, Any]], float]] = {}

    async def _search(
        self, path: str, params: list[tuple[str, str | int | float | bool | None]]
    ) -> list[dict[str, Any]]:
        key = (path, *(f"{k}={v}" for k, v in params))
        hit = self._cache.get(key)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        headers = {
            "apikey": self._api_key,
            "X-Correlation-Id": str(uuid.uuid4()),
            "Accept": "application/fhir+json",
        }
        try:
            async with self._client() as client:
                response = await client.get(
                    f"{self.base_url}/{path}", params=params, headers=headers
                )
        except httpx.HTTPError as exc:
            raise ServiceUnreachable(f"SDS (FHIR) unreachable: {exc}") from exc
        if response.status_code >= 500:
            raise ServiceUnreachable(f"SDS (FHIR) answered {response.status_code}")
        if response.status_code != 200:
            raise SdsError(f"SDS (FHIR) refused the lookup: {response.status_code}")
        try:
            bundle = response.json()
            resources = [e["resource"] for e in bundle.get("entry", [])]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SdsError("SDS (FHIR) answered something that is no Bundle") from exc
        self._cache[key] = (resources, time.monotonic() + self.cache_ttl)
        return resources

    async def party_key(self, asid: str, interaction: Interaction) -> str:
        devices = await self._search(
            "Device",
            [
                ("identifier", f"{ASID}|{asid}"),
                ("identifier", f"{INTERACTION}|{interaction.value}"),
            ],
        )
        keys = {k for d in devices if (k := _identifier(d, PARTY_KEY))}
        if not keys:
            raise AsNotFound(
                f"No accredited system (Device) for ASID {asid} and {interaction.short}"
            )
        if len(keys) > 1:
            raise SeveralEndpoints(f"{len(keys)} party keys for ASID {asid} in SDS")
        return keys.pop()

    async def endpoints(self, party_key: str, interaction: Interaction) -> list[str]:
        found = await self._search(
            "Endpoint",
            [
                ("identifier", f"{INTERACTION}|{interaction.value}"),
                ("identifier", f"{PARTY_KEY}|{party_key}"),
            ],
        )
        return [str(e["address"]) for e in found if e.get("address")]

    async def endpoint_for(
        self, asid: str, interaction: Interaction = Interaction.CREATE_APPOINTMENT
    ) -> str:
        """The one FHIR endpoint root URL for `asid` and `interaction`, URL-encoded for use."""
        found = await self.endpoints(await self.party_key(asid, interaction), interaction)
        return one_endpoint(found, asid, interaction, held_in="Endpoint")
