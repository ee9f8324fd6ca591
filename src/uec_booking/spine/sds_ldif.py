"""SDS entries for the sample directory, as LDIF: the same text loads into the embedded
server and into OpenLDAP slapd. Each entry carries every attribute the live SDS schema
makes MUST for its class (`contracts/sds_live_schema.json`), with values shaped as live's.

Every system gets an nhsAs entry and nhsMhs entries under its party key; the nhsMhs entry's
`nhsMhsFQDN` is the FQDN its TLS certificate is issued for, which the SSP checks a client
certificate against (SSP guide: "The FQDN presented in the client certificate SHALL be
checked against the FQDN registered against the ASID").
"""

from __future__ import annotations

from typing import Any

from uec_booking.fhir.interactions import BOOKING_INTERACTIONS, PREFIX

SERVICES_DN = "ou=Services,o=nhs"
SERVICE_NAME = "urn:nhs:names:services:careconnect"  # nhsMhsSN: the interaction id's service
# Live SDS's date form (GeneralizedTime without zone) and approver URPs, as in its dumps.
APPROVAL = [
    (
        "nhsRequestorURP",
        "uniqueidentifier=555555555555,uniqueidentifier=555555555555,uid=555555555555,ou=people,o=nhs",
    ),
    ("nhsDateRequested", "20200101090000"),
    (
        "nhsApproverURP",
        "uniqueidentifier=555555555555,uniqueidentifier=555555555555,uid=555555555555,ou=people,o=nhs",
    ),
    ("nhsDateApproved", "20200101100000"),
]


def default_fqdn(system: dict[str, Any]) -> str:
    return str(system.get("fqdn") or f"{system['party_key'].lower()}.sandbox.nhs.uk")


def _entry(dn: str, attributes: list[tuple[str, str]]) -> str:
    lines = [f"dn: {dn}"] + [f"{name}: {value}" for name, value in attributes]
    return "\n".join(lines) + "\n"


def _mhs(system: dict[str, Any], mhs_id: str, interaction: str, endpoint: str) -> str:
    return _entry(
        f"uniqueIdentifier={mhs_id},{SERVICES_DN}",
        [
            ("objectClass", "top"),
            ("objectClass", "nhsMhs"),
            ("uniqueIdentifier", mhs_id),
            ("nhsIDCode", system["ods"]),
            ("nhsMHSPartyKey", system["party_key"]),
            ("nhsMhsSvcIA", interaction),
            ("nhsMhsSN", SERVICE_NAME),
            ("nhsMhsIN", interaction.removeprefix(SERVICE_NAME + ":")),
            ("nhsMHSEndPoint", endpoint),
            ("nhsMHSIsAuthenticated", "transient"),
            ("nhsMhsCPAId", f"{mhs_id}-cpa"),
            ("nhsProductKey", str(system.get("product_key", "1"))),
            *APPROVAL,
            (
                "nhsDNSApprover",
                "uniqueidentifier=555555555555,uniqueidentifier=555555555555,uid=555555555555,ou=people,o=nhs",
            ),
            ("nhsDateDNSApproved", "20200101100000"),
            ("nhsEPInteractionType", "FHIR"),
            ("nhsContractPropertyTemplateKey", "14"),
            ("nhsMhsFQDN", default_fqdn(system)),
            ("nhsProductName", system["name"]),
        ],
    )


def build_ldif(directory: dict[str, Any], *, provider_endpoint: str) -> str:
    """nhsAs entries for every consumer system and the provider system; one nhsMhs entry per
    booking interaction for the provider's party key, all pointing at `provider_endpoint`,
    and one nhsMhs entry per consumer system registering its FQDN."""
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
                    ("nhsIDCode", system["ods"]),
                    ("nhsMHSPartyKey", system["party_key"]),
                    *(("nhsAsSvcIA", i) for i in interactions),
                    *APPROVAL,
                    ("nhsProductName", system["name"]),
                    ("nhsAsClient", system["ods"]),
                ],
            )
        )
    for n, interaction in enumerate(BOOKING_INTERACTIONS, start=1):
        mhs_id = f"{provider['ods'].lower()}-mhs-{n:03d}"
        entries.append(_mhs(provider, mhs_id, interaction.value, provider_endpoint))
    for system in directory["consumer_systems"]:
        # A consumer's own MHS: how SDS registers the FQDN its client certificate names.
        mhs_id = f"{system['ods'].lower()}-mhs-001"
        entries.append(
            _mhs(
                system,
                mhs_id,
                PREFIX + (system.get("groups") or ["read:metadata"])[0],
                f"https://{default_fqdn(system)}/",
            )
        )
    # A blank line ends the last entry too (ldaptor needs it; slapadd wants no version line).
    return "\n".join(entries) + "\n"
