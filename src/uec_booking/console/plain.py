"""Errors from the national services as sentences a call handler understands (the technical
detail stays one click away on the page)."""

from __future__ import annotations

from uec_booking.consumer import errors

SENTENCES: list[tuple[type[Exception], str]] = [
    (
        errors.InvalidNhsNumber,
        "That is not a valid NHS number. Check the 10 digits with the caller.",
    ),
    (errors.PatientNotFound, "No patient has that NHS number. Check it with the caller."),
    (
        errors.DemographicsMismatch,
        "The details do not match the patient's record. Check the postcode, name and date of birth with the caller.",
    ),
    (
        errors.DosAuthError,
        "The Directory of Services refused this system's login. Tell your system administrator.",
    ),
    (
        errors.DosError,
        "The Directory of Services could not answer. Try again, or use the DoS website.",
    ),
    (
        errors.SdsError,
        "This service cannot take bookings from us right now. Refer the patient instead.",
    ),
    (errors.AuthError, "This system could not sign in to book. Tell your system administrator."),
    (errors.SlotTaken, "Someone else has just taken that slot. Choose another one."),
    (errors.ServiceUnavailable, "A national service is not answering. Try again in a minute."),
    (
        errors.ProviderError,
        "The service did not accept the booking. Refer the patient, or try another slot.",
    ),
]


def plain_error(error: Exception) -> str:
    for kind, sentence in SENTENCES:
        if isinstance(error, kind):
            return sentence
    return (
        "Something went wrong. Try again, and tell your system administrator if it keeps happening."
    )
