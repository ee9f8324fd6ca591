"""NHS number validation: ten digits, the last a modulus-11 check digit."""

from __future__ import annotations

from typing import Any

from uec_booking.fhir.urls import NHS_NUMBER_SYSTEM, NHS_NUMBER_VERIFICATION_EXTENSION


def check_digit(first_nine: str) -> int | None:
    """The modulus-11 check digit for nine digits, or None when no valid number exists."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    digit = 11 - total % 11
    if digit == 11:
        return 0
    if digit == 10:
        return None
    return digit


def normalise(value: str) -> str:
    """Strip the spaces and dashes people write inside NHS numbers (`943 476 5919`)."""
    return value.replace(" ", "").replace("-", "")


def is_valid(value: str) -> bool:
    """True when `value` is a well-formed NHS number (spaces allowed)."""
    number = normalise(value)
    if len(number) != 10 or not number.isascii() or not number.isdigit():
        return False
    expected = check_digit(number[:9])
    return expected is not None and expected == int(number[9])


def verified_nhs_number(nhs_number: str) -> dict[str, Any]:
    """A CareConnect Patient identifier: the NHS number, verified (PDS traced it: status 01)."""
    return {
        "extension": [
            {
                "url": NHS_NUMBER_VERIFICATION_EXTENSION,
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-NHSNumberVerificationStatus-1",
                            "code": "01",
                            "display": "Number present and verified",
                        }
                    ]
                },
            }
        ],
        "use": "official",
        "system": NHS_NUMBER_SYSTEM,
        "value": nhs_number,
    }
