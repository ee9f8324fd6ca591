"""The consumer's exception tree. Clients translate library errors (httpx, zeep, ldap3, jwt)
into these at their boundary (`raise ... from exc`); nothing above a client sees another
library's exception types.

    ConsumerError
    ├── ServiceUnavailable        a national service or the provider could not be reached / timed out
    │   └── ServiceOutage         ... and the workflow cannot go on without it (names the service)
    ├── PdsError
    │   ├── InvalidNhsNumber
    │   ├── PatientNotFound
    │   └── DemographicsMismatch  PDS has the number, but not with these demographics
    ├── DosError
    │   ├── DosAuthError          DoS refused the credentials
    │   └── DosServiceNotFound
    ├── SdsError
    │   ├── AsNotFound            no nhsAS object for the ASID
    │   ├── NoEndpoint            no nhsMHS (or no nhsMHSEndPoint) for the party key and interaction
    │   └── SeveralEndpoints      more than one nhsMHS object matched
    ├── AuthError                 the token endpoint refused us (RFC 6749 error in `error`)
    ├── ProviderError             the provider (via SSP) answered 4xx/5xx: status + OperationOutcome
    │   └── SlotTaken             422 "Slot no longer available"
    └── NoBookingEndpoint         the chosen service cannot be booked (no ASID, SDS miss, ...)
"""

from __future__ import annotations

from typing import Any


class ConsumerError(Exception):
    """Base of every error the consumer library raises."""


class ServiceUnavailable(ConsumerError):
    """A service could not be reached, timed out, or answered 5xx."""


class ServiceOutage(ServiceUnavailable):
    """A national service the booking needs is down: an outage, never a clinical decision
    (not "refer without booking")."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service} is unavailable: {message}")
        self.service = service


class PdsError(ConsumerError):
    pass


class InvalidNhsNumber(PdsError):
    pass


class PatientNotFound(PdsError):
    pass


class DemographicsMismatch(PdsError):
    pass


class DosError(ConsumerError):
    pass


class DosAuthError(DosError):
    pass


class DosServiceNotFound(DosError):
    pass


class SdsError(ConsumerError):
    pass


class AsNotFound(SdsError):
    pass


class NoEndpoint(SdsError):
    pass


class SeveralEndpoints(SdsError):
    pass


class AuthError(ConsumerError):
    """The authentication service refused to issue a token."""

    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


class ProviderError(ConsumerError):
    """The provider (or the SSP in front of it) answered with an error status."""

    def __init__(self, status: int, outcome: dict[str, Any] | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome or {}


class SlotTaken(ProviderError):
    """422: the slot went between search and booking."""


class NoBookingEndpoint(ConsumerError):
    """The service has no usable booking endpoint: use the non-booking (referral) path."""
