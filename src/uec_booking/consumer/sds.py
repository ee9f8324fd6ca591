"""The consumer's SDS client: ASID → nhsMHSPartyKey → nhsMHSEndPoint (the seed's two
ldapsearch steps), over LDAP with ldap3. Answers are cached for `cache_ttl` seconds.

Over `ldaps://` (or `start_tls=True` on `ldap://`) the server certificate is verified
against `ca_file` (else the system's bundle) and its host name checked; `cert_file` /
`key_file` are presented for Spine's TLS mutual authentication. `verify=False` is for
debugging only and warns every time a client is made."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Unpack
from urllib.parse import quote, urlsplit

from ldap3 import BASE, SUBTREE
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from uec_booking import ldap_search
from uec_booking.consumer.errors import (
    AsNotFound,
    NoEndpoint,
    SdsError,
    ServiceUnreachable,
    SeveralEndpoints,
)
from uec_booking.fhir.interactions import PREFIX, Interaction
from uec_booking.tls import describe_tls_error

log = logging.getLogger("uec_booking.consumer.sds")
GP_CONNECT = "urn:nhs:names:services:gpconnect:"
URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


class SdsClient:
    """Find a provider's FHIR endpoint for an interaction.

    sds = SdsClient(url="ldap://…", base="ou=Services,o=nhs")
    endpoint = await sds.endpoint_for("200000000101")
    """

    def __init__(
        self,
        *,
        url: str,
        base: str = "ou=Services,o=nhs",
        cache_ttl: float = 300.0,
        **reach: Unpack[ldap_search.Reach],
    ) -> None:
        if not reach.get("verify", True):
            log.warning("TLS verification of SDS is OFF (UEC_TLS_VERIFY=0): debugging only")
        self._directory = ldap_search.Directory.at(url, **reach)
        self.base = base
        self.cache_ttl = cache_ttl
        self._cache: dict[tuple[str, ...], tuple[object, float]] = {}
        self.lookups = 0  # LDAP searches actually sent

    async def has_base(self) -> bool:
        """Whether SDS answers a search of the configured base entry (a configuration check)."""
        found = await asyncio.to_thread(self._search, self.base, BASE, "(objectClass=*)", [])
        return bool(found)

    def _cached(self, key: tuple[str, ...]) -> object | None:
        hit = self._cache.get(key)
        return hit[0] if hit and hit[1] > time.monotonic() else None

    def _remember(self, key: tuple[str, ...], value: object) -> None:
        self._cache[key] = (value, time.monotonic() + self.cache_ttl)

    def _search(
        self, base: str, scope: str, search_filter: str, attributes: list[str]
    ) -> list[dict[str, list[str]]]:
        self.lookups += 1
        try:
            return self._directory.search(base, scope, search_filter, attributes)
        except ldap_search.SearchRefused as refused:
            raise SdsError(f"SDS search failed: {refused}") from refused
        except (LDAPException, OSError) as exc:
            sentence = describe_tls_error(exc, "SDS")
            raise ServiceUnreachable(sentence or f"SDS unreachable or failing: {exc}") from exc

    async def party_key(self, asid: str) -> str:
        """Step 1: the nhsAS object's nhsMHSPartyKey."""
        key = ("as", asid)
        cached = self._cached(key)
        if isinstance(cached, str):
            return cached
        base = f"uniqueIdentifier={escape_filter_chars(asid)},{self.base}"
        entries = await asyncio.to_thread(
            self._search, base, BASE, "(objectClass=*)", ["nhsMHSPartyKey", "nhsAsSvcIA"]
        )
        if not entries or not entries[0].get("nhsMHSPartyKey"):
            raise AsNotFound(f"No nhsAS object for ASID {asid} in SDS")
        interactions = entries[0].get("nhsAsSvcIA", [])
        if interactions and not any(i.startswith(PREFIX) for i in interactions):
            raise NoEndpoint(f"ASID {asid} has no CareConnect interactions in SDS")
        if any(i.startswith(PREFIX) for i in interactions) and any(
            i.startswith(GP_CONNECT) for i in interactions
        ):
            # Assurance script C12: an nhsAS listing both is an error, and no booking.
            log.error("ASID %s lists both CareConnect and GP Connect interactions in SDS", asid)
            raise NoEndpoint(
                f"ASID {asid} lists both CareConnect and GP Connect interactions in SDS"
            )
        party_key = entries[0]["nhsMHSPartyKey"][0]
        self._remember(key, party_key)
        return party_key

    async def endpoints(self, party_key: str, interaction: Interaction) -> list[str]:
        """Step 2: nhsMHSEndPoint of every nhsMHS object for the party key and interaction."""
        key = ("mhs", party_key, interaction.value)
        cached = self._cached(key)
        if isinstance(cached, list):
            return cached
        search_filter = (
            f"(&(nhsMHSPartyKey={escape_filter_chars(party_key)})"
            f"(nhsMhsSvcIA={escape_filter_chars(interaction.value)}))"
        )
        entries = await asyncio.to_thread(
            self._search, self.base, SUBTREE, search_filter, ["nhsMHSEndPoint"]
        )
        found = [e["nhsMHSEndPoint"][0] for e in entries if e.get("nhsMHSEndPoint")]
        self._remember(key, found)
        return found

    async def endpoint_for(
        self, asid: str, interaction: Interaction = Interaction.CREATE_APPOINTMENT
    ) -> str:
        """The one FHIR endpoint root URL for `asid` and `interaction`, URL-encoded for use."""
        found = await self.endpoints(await self.party_key(asid), interaction)
        return one_endpoint(found, asid, interaction, held_in="nhsMHS object")


def one_endpoint(found: list[str], asid: str, interaction: Interaction, *, held_in: str) -> str:
    """The one endpoint SDS gave for `asid` and `interaction` (over LDAP or FHIR; `held_in`
    names what it keeps them in), URL-encoded for use: none, several or one that is not an
    http(s) URL is what SDS says about the service, its non-booking path."""
    if not found:
        raise NoEndpoint(f"No {held_in} with an endpoint for ASID {asid} and {interaction.short}")
    if len(found) > 1:
        raise SeveralEndpoints(f"{len(found)} {held_in}s for ASID {asid} and {interaction.short}")
    endpoint = quote(found[0].strip(), safe=URL_SAFE)
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise NoEndpoint(f"SDS endpoint {found[0]!r} for ASID {asid} is not a valid URL")
    return endpoint.rstrip("/")
