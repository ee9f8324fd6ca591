"""What the SSP asks SDS, on its own (an actor never borrows another's client): where an
ASID's system serves an interaction, and which FQDNs are registered for an ASID, so the
client certificate presented for `Ssp-From` can be checked (SSP guide: "The FQDN presented
in the client certificate SHALL be checked against the FQDN registered against the ASID").

SDS lookups: nhsAs (uniqueIdentifier = ASID) → nhsMHSPartyKey; nhsMhs entries of that party
key → nhsMHSEndPoint (for an interaction, nhsMhsSvcIA) and nhsMhsFQDN.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, Unpack

from ldap3 import BASE, SUBTREE
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from uec_booking import ldap_search
from uec_booking.fhir.interactions import Interaction


class RegistryUnavailable(Exception):
    """SDS could not be asked (down, refusing, TLS failure)."""


class EndpointRegistry(Protocol):
    """Where SDS says a system (ASID) serves an interaction, and the FQDNs it may use."""

    async def endpoints(self, asid: str, interaction: Interaction) -> list[str]: ...

    async def fqdns(self, asid: str) -> set[str]: ...


class LdapRegistry:
    """The registry read from SDS over LDAP (ldaps, or StartTLS with `start_tls=True`),
    answers cached for `cache_ttl` seconds."""

    def __init__(
        self,
        *,
        url: str,
        base: str = "ou=Services,o=nhs",
        cache_ttl: float = 60.0,
        **reach: Unpack[ldap_search.Reach],
    ) -> None:
        self.base, self.cache_ttl = base, cache_ttl
        self._directory = ldap_search.Directory.at(url, **reach)
        self._cache: dict[tuple[str, ...], tuple[list[dict[str, list[str]]], float]] = {}

    def _search_now(self, base: str, scope: str, query: str) -> list[dict[str, list[str]]]:
        try:
            return self._directory.search(
                base,
                scope,
                query,
                ["nhsMHSPartyKey", "nhsMHSEndPoint", "nhsMhsFQDN", "nhsMhsSvcIA"],
            )
        except ldap_search.SearchRefused as exc:
            raise RegistryUnavailable(f"SDS search failed: {exc.description}") from exc
        except (LDAPException, OSError) as exc:
            raise RegistryUnavailable(f"SDS unreachable or failing: {exc}") from exc

    async def _search(self, base: str, scope: str, query: str) -> list[dict[str, list[str]]]:
        key = (base, scope, query)
        hit = self._cache.get(key)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        found = await asyncio.to_thread(self._search_now, base, scope, query)
        self._cache[key] = (found, time.monotonic() + self.cache_ttl)
        return found

    async def _party_key(self, asid: str) -> str | None:
        base = f"uniqueIdentifier={escape_filter_chars(asid)},{self.base}"
        entries = await self._search(base, BASE, "(objectClass=nhsAs)")
        keys = entries[0].get("nhsMHSPartyKey", []) if entries else []
        return keys[0] if keys else None

    async def endpoints(self, asid: str, interaction: Interaction) -> list[str]:
        party_key = await self._party_key(asid)
        if party_key is None:
            return []
        query = (
            f"(&(objectClass=nhsMhs)(nhsMHSPartyKey={escape_filter_chars(party_key)})"
            f"(nhsMhsSvcIA={escape_filter_chars(interaction.value)}))"
        )
        entries = await self._search(self.base, SUBTREE, query)
        return [e["nhsMHSEndPoint"][0] for e in entries if e.get("nhsMHSEndPoint")]

    async def fqdns(self, asid: str) -> set[str]:
        party_key = await self._party_key(asid)
        if party_key is None:
            return set()
        query = f"(&(objectClass=nhsMhs)(nhsMHSPartyKey={escape_filter_chars(party_key)}))"
        entries = await self._search(self.base, SUBTREE, query)
        return {f.lower() for e in entries for f in e.get("nhsMhsFQDN", [])}
