"""Profile URLs, identifier systems and interaction IDs of the standard, in one place."""

from __future__ import annotations

from typing import Final

NHS_NUMBER_SYSTEM: Final = "https://fhir.nhs.uk/Id/nhs-number"
ODS_ORGANIZATION_SYSTEM: Final = "https://fhir.nhs.uk/Id/ods-organization-code"
ODS_SITE_SYSTEM: Final = "https://fhir.nhs.uk/Id/ods-site-code"
SDS_USER_SYSTEM: Final = "https://fhir.nhs.uk/Id/sds-user-id"
SDS_ROLE_PROFILE_SYSTEM: Final = "https://fhir.nhs.uk/Id/sds-role-profile-id"
# The system the NHS test kit's book bodies give Slot identifiers (a UUID, RFC 4122).
SLOT_IDENTIFIER_SYSTEM: Final = "https://tools.ietf.org/html/rfc4122"
DOS_SERVICE_SYSTEM: Final = "https://fhir.nhs.uk/Id/dos-service-id"
SPINE_ERROR_SYSTEM: Final = "https://fhir.nhs.uk/STU3/ValueSet/Spine-ErrorOrWarningCode-1"
NHS_NUMBER_VERIFICATION_EXTENSION: Final = (
    "https://fhir.hl7.org.uk/STU3/StructureDefinition/"
    "Extension-CareConnect-NHSNumberVerificationStatus-1"
)

DELIVERY_CHANNEL_EXTENSION: Final = (
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-DeliveryChannel-2"
)

_NHS_SD: Final = "https://fhir.nhs.uk/STU3/StructureDefinition/"
_CC_SD: Final = "https://fhir.hl7.org.uk/STU3/StructureDefinition/"

# The standard moved from the seed's NHS-* profiles to CareConnect; resources list both.
PROFILES: Final[dict[str, tuple[str, ...]]] = {
    "Slot": (_NHS_SD + "NHS-Slot-1", _CC_SD + "CareConnect-Slot-1"),
    "Schedule": (_NHS_SD + "NHS-Schedule-1", _CC_SD + "CareConnect-Schedule-1"),
    "Appointment": (_NHS_SD + "NHS-Appointment-1", _CC_SD + "CareConnect-Appointment-1"),
    "Practitioner": (_NHS_SD + "NHS-Practitioner-1", _CC_SD + "CareConnect-Practitioner-1"),
    "PractitionerRole": (_CC_SD + "CareConnect-PractitionerRole-1",),
    "Location": (_NHS_SD + "NHS-Location-1", _CC_SD + "CareConnect-Location-1"),
    "HealthcareService": (_CC_SD + "CareConnect-HealthcareService-1",),
    "Organization": (_NHS_SD + "NHS-Organization-1", _CC_SD + "CareConnect-Organization-1"),
    "Patient": (_CC_SD + "CareConnect-Patient-1",),
    "OperationOutcome": (_CC_SD + "CareConnect-OperationOutcome-1",),
    "DocumentReference": (_CC_SD + "CareConnect-DocumentReference-1",),
}
CARECONNECT_APPOINTMENT: Final = _CC_SD + "CareConnect-Appointment-1"
CARECONNECT_PATIENT: Final = _CC_SD + "CareConnect-Patient-1"


def profiles(resource_type: str) -> list[str]:
    """The `meta.profile` list for a resource type this implementation emits."""
    return list(PROFILES.get(resource_type, ()))


IUC_REPORT_TYPE: Final = {
    "coding": [
        {
            # The CDA document type of an Integrated Urgent Care report: what the booking's
            # DocumentReference points the provider at.
            "system": "urn:oid:2.16.840.1.113883.2.1.3.2.4.18.17",
            "code": "POCD_MT200001GB02",
            "display": "Integrated Urgent Care Report",
        }
    ]
}
