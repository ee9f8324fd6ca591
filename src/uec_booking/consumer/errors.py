"""The consumer's exception tree. Clients translate library errors (httpx, zeep, ldap3, jwt)
into these at their boundary (`raise ... from exc`); nothing above a client sees another
library's exception types.

    ConsumerError
    ├── ConfigError               the configuration file or UEC_* settings cannot be used
    ├── ServiceUnreachable        a national service or the provider could not be reached / timed out
    │   └── ServiceOutage         ... and the workflow cannot go on without it (names the service)
    ├── PdsError
    │   ├── InvalidNhsNumber
    │   ├── PatientNotFound
    │   └── DemographicsMismatch  PDS has the number, but not with these demographics
    ├── DosError                  `code`: the DoS fault code (soap_api_errors_v1_5.md), when DoS sent one
    │   ├── DosAuthError          DoS refused the credentials (302, 303, 1001)
    │   ├── DosServiceNotFound    103
    │   ├── DosCaseRejected       DoS refused a field of the case (101, 104-106, 109-121)
    │   ├── DosNoServices         102: no services, not even catch-all
    │   ├── DosVersionUnsupported 107
    │   └── DosUnavailable        100, 500, 504 (also a ServiceUnreachable)
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


class ConfigError(ConsumerError):
    """The configuration cannot be used; the message says which file or key, and why."""


class ServiceUnreachable(ConsumerError):
    """A service could not be reached, timed out, or answered 5xx: nothing is known about
    what was asked (unlike `fhir.errors.ServiceUnavailable`, the 503 a server of ours sends)."""


class ServiceOutage(ServiceUnreachable):
    """A national service the booking needs is down: an outage, never a clinical decision
    (not "refer without booking")."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service} is unavailable: {message}")
        self.service = service


class PdsError(ConsumerError):
    """PDS could not verify the patient, or answered what this client cannot read."""


class InvalidNhsNumber(PdsError):
    """The NHS number fails its check digit, or PDS refused it (INVALID_RESOURCE_ID)."""


class PatientNotFound(PdsError):
    """PDS has no patient with the NHS number (404)."""


class DemographicsMismatch(PdsError):
    """PDS has the number, but not with the postcode, family name or birth date given."""


class DosError(ConsumerError):
    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class DosAuthError(DosError):
    """DoS refused the credentials (302, 303, 1001)."""


class DosServiceNotFound(DosError):
    """103: DoS has no service with the id asked for."""


class DosCaseRejected(DosError):
    """DoS refused a field of the case (postcode, age, gender, disposition, ...)."""


class DosNoServices(DosError):
    """102: DoS found no service for the case, not even a catch-all."""


class DosVersionUnsupported(DosError):
    """107: DoS does not serve the requested serviceVersion."""


class DosUnavailable(DosError, ServiceUnreachable):
    """DoS failed on its side (100 search failure, 500, 504 time out)."""


class SdsError(ConsumerError):
    """SDS answered, but not with one usable endpoint; or its search failed."""


class AsNotFound(SdsError):
    """SDS has no accredited system (nhsAS, or Device) for the ASID."""


class NoEndpoint(SdsError):
    """SDS has no endpoint for the party key and interaction, or not a valid URL."""


class SeveralEndpoints(SdsError):
    """SDS holds more than one endpoint (or party key) where the standard wants one."""


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
