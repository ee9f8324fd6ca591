"""Scripted answers for the consumer assurance workbook's DoS and SDS edge cases.

The assurance sandbox runs its own SDS for the consumer (the sandbox's entries plus the edge
cases below, on the real LDAP wire); the DoS recorder, after the n-th CheckCapacitySummary
for a postcode, rewrites the next ServiceDetailsById answer to name the edge case's ASID
(or two ASIDs). One journey is one CheckCapacitySummary."""

from __future__ import annotations

from dataclasses import dataclass

from uec_booking.fhir.interactions import BOOKING_INTERACTIONS, PREFIX, Interaction

GPC = "urn:nhs:names:services:gpconnect:fhir:rest:"


@dataclass(frozen=True)
class Script:
    kind: str
    case_id: str  # the consumer workbook's test id
    requirement: str
    postcode: str
    nth: int  # which CheckCapacitySummary for that postcode arms it
    asid: str | None  # the ASID the answer is given (None: a second one is added)
    what: str


SCRIPTS = (
    Script(
        "two_asids",
        "CConnect-ApptTest_6",
        "C7",
        "LS1 4HR",
        1,
        None,
        "DoS lists two booking ASIDs: flag an error, do not book that service",
    ),
    Script(
        "no_careconnect",
        "CConnect-ApptTest_10",
        "C11",
        "LS1 6AE",
        2,
        "200000000511",
        "the NhsAS object has no CareConnect interactions: log, continue without booking it",
    ),
    Script(
        "careconnect_and_gpc",
        "CConnect-ApptTest_11",
        "C12",
        "LS1 6AE",
        3,
        "200000000512",
        "the NhsAS object has CareConnect and GP Connect interactions: log, continue",
    ),
    Script(
        "several_mhs",
        "CConnect-ApptTest_13",
        "C14",
        "LS1 6AE",
        4,
        "200000000514",
        "two nhsMHS objects for the party key and interaction: log, continue",
    ),
    Script(
        "invalid_endpoint",
        "CConnect-ApptTest_15",
        "C17",
        "LS1 6AE",
        5,
        "200000000517",
        "the nhsMHS endpoint is not a valid URL: log, continue",
    ),
)


def _entry(dn: str, attributes: list[tuple[str, str]]) -> str:
    return "\n".join([f"dn: {dn}"] + [f"{k}: {v}" for k, v in attributes]) + "\n"


def _as(asid: str, party_key: str, interactions: list[str]) -> str:
    return _entry(
        f"uniqueIdentifier={asid},ou=Services,o=nhs",
        [
            ("objectClass", "top"),
            ("objectClass", "nhsAs"),
            ("uniqueIdentifier", asid),
            ("nhsMHSPartyKey", party_key),
            ("nhsIDCode", "X26EC1"),
            ("nhsProductName", "Assurance edge case"),
            *(("nhsAsSvcIA", i) for i in interactions),
        ],
    )


def _mhs(mhs_id: str, party_key: str, interaction: str, endpoint: str) -> str:
    return _entry(
        f"uniqueIdentifier={mhs_id},ou=Services,o=nhs",
        [
            ("objectClass", "top"),
            ("objectClass", "nhsMhs"),
            ("uniqueIdentifier", mhs_id),
            ("nhsMHSPartyKey", party_key),
            ("nhsMhsSvcIA", interaction),
            ("nhsMHSEndPoint", endpoint),
            ("nhsIDCode", "X26EC1"),
            ("nhsMhsCPAId", f"{mhs_id}-cpa"),
        ],
    )


def edge_case_ldif(provider_endpoint: str) -> str:
    """The SDS entries the scripts name (appended to the sandbox's LDIF)."""
    careconnect = [i.value for i in BOOKING_INTERACTIONS]
    booking = [
        Interaction.READ_SLOT.value,
        Interaction.CREATE_APPOINTMENT.value,
        Interaction.UPDATE_APPOINTMENT.value,
    ]
    entries = [
        _as("200000000511", "X26EC1-0000511", [GPC + "search:slot", GPC + "create:appointment"]),
        _as("200000000512", "X26EC1-0000512", [*careconnect, GPC + "search:slot"]),
        _as("200000000514", "X26EC1-0000514", careconnect),
        _as("200000000517", "X26EC1-0000517", careconnect),
    ]
    for n, interaction in enumerate(booking):
        entries.append(_mhs(f"ec512-{n}", "X26EC1-0000512", interaction, provider_endpoint))
        entries.append(_mhs(f"ec514a-{n}", "X26EC1-0000514", interaction, provider_endpoint))
        entries.append(_mhs(f"ec514b-{n}", "X26EC1-0000514", interaction, provider_endpoint + "/b"))
        entries.append(_mhs(f"ec517-{n}", "X26EC1-0000517", interaction, "not a url"))
    assert all(PREFIX in i for i in careconnect)
    return "\n".join(entries) + "\n"
