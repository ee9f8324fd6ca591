"""Errors from the national services as sentences a call handler understands (the technical
detail stays one click away on the page).

The console knows which service each step calls, so an outage names that service and says
what to do; it is never shown as "referral only" or "do not refer"."""

from __future__ import annotations

from enum import Enum

from uec_booking.consumer import errors


class Service(Enum):
    """The national services (and the provider) a booking journey calls, in the words used
    to name them to a call handler."""

    PDS = "the Personal Demographics Service (PDS)"
    DOS = "the Directory of Services (DoS)"
    SDS = "the Spine Directory Service (SDS)"
    AUTH = "the NHS authentication service"
    PROVIDER = "the service's booking system (through the Spine Secure Proxy)"


SENTENCES: list[tuple[type[Exception], str]] = [
    (
        errors.InvalidNhsNumber,
        "That is not a valid NHS number. Check the 10 digits with the caller.",
    ),
    (errors.PatientNotFound, "No patient has that NHS number. Check it with the caller."),
    (
        errors.DemographicsMismatch,
        "The details do not match the patient's record. Check the registered postcode, name and date of birth with the caller.",
    ),
    (errors.SlotTaken, "Someone else has just taken that slot. Choose another one."),
    (
        errors.ProviderError,
        "The service did not accept the booking. Try another slot, or refer the patient as usual.",
    ),
]


def plain_error(error: Exception) -> str:
    for kind, sentence in SENTENCES:
        if isinstance(error, kind):
            return sentence
    return (
        "Something went wrong. Try again, and tell your system administrator if it keeps happening."
    )


def outage(service: Service, error: Exception) -> tuple[str, str]:
    """(title, sentence) for a failure at this step: credentials, an outage, or a refusal."""
    if isinstance(error, errors.AuthError) and error.error in (
        "invalid_client",
        "unauthorized_client",
    ):
        return (
            "This system's credentials were refused",
            "The NHS authentication service refused this system's client ID or secret. "
            "Check the configured credentials (tell your system administrator); until then "
            "no booking can be made from here: refer patients by your usual route.",
        )
    if isinstance(error, errors.DosAuthError):
        return (
            "This system's DoS login was refused",
            "The Directory of Services refused this system's username or password. Check "
            "the configured DoS credentials (tell your system administrator); meanwhile use "
            "the DoS website to find a service.",
        )
    name = service.value
    if isinstance(error, errors.ServiceUnreachable | errors.AuthError | errors.DosError):
        return (
            f"{name[0].upper()}{name[1:]} is not answering",
            f"{name[0].upper()}{name[1:]} is not answering, so this step cannot be done now. "
            "Try again in a few minutes. If it stays down, follow your business continuity "
            "plan and tell your system administrator.",
        )
    return ("The booking did not go through", plain_error(error))
