"""SDS entries for the sample directory, as LDIF: the same text loads into the embedded
server and into OpenLDAP slapd."""

from __future__ import annotations

from typing import Any

from uec_booking.fhir.interactions import BOOKING_INTERACTIONS, PREFIX

SERVICES_DN = "ou=Services,o=nhs"


def _entry(dn: str, attributes: list[tuple[str, str]]) -> str:
    lines = [f"dn: {dn}"] + [f"{name}: {value}" for name, value in attributes]
    return "\n".join(lines) + "\n"


def build_ldif(directory: dict[str, Any], *, provider_endpoint: str) -> str:
    """nhsAs entries for every consumer system and the provider system; one nhsMhs entry per
    booking interaction for the provider's party key, all pointing at `provider_endpoint`."""
    entries = [
        _entry("o=nhs", [("objectClass", "top"), ("objectClass", "organization"), ("o", "nhs")]),
        _entry(
            SERVICES_DN,
            [("objectClass", "top"), ("objectClass", "organizationalUnit"), ("ou", "Services")],
        ),
    ]
    provider = directory["provider_system"]
    systems = [*directory["consumer_systems"], provider]
    for system in systems:
        interactions = (
            [i.value for i in BOOKING_INTERACTIONS]
            if system is provider
            else [PREFIX + g for g in system["groups"]]
        )
        entries.append(
            _entry(
                f"uniqueIdentifier={system['asid']},{SERVICES_DN}",
                [
                    ("objectClass", "top"),
                    ("objectClass", "nhsAs"),
                    ("uniqueIdentifier", system["asid"]),
                    ("nhsMHSPartyKey", system["party_key"]),
                    ("nhsIDCode", system["ods"]),
                    ("nhsProductName", system["name"]),
                    *(("nhsAsSvcIA", i) for i in interactions),
                ],
            )
        )
    for n, interaction in enumerate(BOOKING_INTERACTIONS, start=1):
        mhs_id = f"{provider['ods'].lower()}-mhs-{n:03d}"
        entries.append(
            _entry(
                f"uniqueIdentifier={mhs_id},{SERVICES_DN}",
                [
                    ("objectClass", "top"),
                    ("objectClass", "nhsMhs"),
                    ("uniqueIdentifier", mhs_id),
                    ("nhsMHSPartyKey", provider["party_key"]),
                    ("nhsMhsSvcIA", interaction.value),
                    ("nhsMHSEndPoint", provider_endpoint),
                    ("nhsIDCode", provider["ods"]),
                    ("nhsMhsCPAId", f"{mhs_id}-cpa"),
                ],
            )
        )
    # A blank line ends the last entry too (ldaptor needs it; slapadd wants no version line).
    return "\n".join(entries) + "\n"
