"""The one exception tree. Each error is named for its outcome and carries its HTTP status
and the OperationOutcome issue it becomes; one handler per server turns it into a response.

    FhirError
    ├── BadRequest              400  invalid / INVALID_PARAMETER, INVALID_REQUEST_MESSAGE
    ├── Unauthorized            401  RFC 6750 invalid_token
    ├── Forbidden               403  RFC 6750 insufficient_scope / ACCESS_DENIED
    ├── NotFound                404  NO_RECORD_FOUND
    ├── MethodNotAllowed        405
    ├── Conflict                409  DUPLICATE_REJECTED, version conflicts (a stale If-Match)
    ├── PreconditionFailed      412  If-Match missing
    ├── PayloadTooLarge         413
    ├── UnsupportedMediaType    415
    ├── Unprocessable           422  profile or business rule, INVALID_RESOURCE
    │   └── SlotUnavailable     422  processing, "Slot no longer available"
    ├── BadGateway              502  (SSP) the provider could not be reached
    ├── ServiceUnavailable      503  a backing store is down; try again (Retry-After)
    ├── GatewayTimeout          504  (SSP) the provider did not answer in time
    └── ServerError             500  anything unexpected, still an OperationOutcome

Why a stale If-Match is 409, not the 412 that RFC 7232 and FHIR's general rules give a
failed precondition: the standard's test kit (EB_CancelAppointment,
`CancelAppointment_VersionConflict`) expects 409 Conflict for an If-Match naming another
version, and 412 only for a cancellation that sends no If-Match at all. A consumer that
gets 409 reads the Appointment again; one that gets 412 has to learn to send the header.

Each class states its outcome in its class line (`status=`, `issue_code=`, `spine_code=`);
the test of this module holds the tree above to those lines.
"""

from __future__ import annotations

from typing import ClassVar

_UNSET = object()


class FhirError(Exception):
    """An error that becomes an OperationOutcome with `status`."""

    status: ClassVar[int] = 500
    issue_code: ClassVar[str] = "exception"
    spine_code: ClassVar[str | None] = "INTERNAL_SERVER_ERROR"

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        issue_code: str | None = None,
        spine_code: object = _UNSET,
        **kwargs: object,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if issue_code is not None:
            cls.issue_code = issue_code
        if spine_code is None or isinstance(spine_code, str):  # None: explicitly no code
            cls.spine_code = spine_code

    def __init__(
        self,
        diagnostics: str,
        *,
        spine_code: str | None = None,
        issue_code: str | None = None,
        expression: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.code = issue_code or self.issue_code
        self.spine = spine_code if spine_code is not None else self.spine_code
        self.expression = expression
        self.headers = headers or {}


class BadRequest(FhirError, status=400, issue_code="invalid", spine_code="INVALID_PARAMETER"):
    pass


class Unauthorized(FhirError, status=401, issue_code="security", spine_code="ACCESS_DENIED"):
    def __init__(self, diagnostics: str, **kwargs: object) -> None:
        headers = {"WWW-Authenticate": _bearer_challenge("invalid_token", diagnostics)}
        super().__init__(diagnostics, headers=headers, **kwargs)  # type: ignore[arg-type]


class Forbidden(FhirError, status=403, issue_code="forbidden", spine_code="ACCESS_DENIED"):
    def __init__(self, diagnostics: str, *, scope: str | None = None, **kwargs: object) -> None:
        challenge = _bearer_challenge("insufficient_scope", diagnostics, scope=scope)
        super().__init__(diagnostics, headers={"WWW-Authenticate": challenge}, **kwargs)  # type: ignore[arg-type]


class NotFound(FhirError, status=404, issue_code="not-found", spine_code="NO_RECORD_FOUND"):
    pass


class MethodNotAllowed(
    FhirError, status=405, issue_code="not-supported", spine_code="NOT_IMPLEMENTED"
):
    pass


class Conflict(FhirError, status=409, issue_code="conflict", spine_code="DUPLICATE_REJECTED"):
    """A duplicate, or a version conflict: a stale If-Match (see the module's note)."""


class PreconditionFailed(
    FhirError, status=412, issue_code="conflict", spine_code="PRECONDITION_FAILED"
):
    """A cancellation without If-Match."""


class PayloadTooLarge(
    FhirError, status=413, issue_code="too-long", spine_code="INVALID_REQUEST_MESSAGE"
):
    pass


class UnsupportedMediaType(
    FhirError, status=415, issue_code="not-supported", spine_code="UNSUPPORTED_MEDIA_TYPE"
):
    pass


class Unprocessable(FhirError, status=422, issue_code="invalid", spine_code="INVALID_RESOURCE"):
    pass


class SlotUnavailable(Unprocessable, issue_code="processing", spine_code=None):
    """The slot was taken (or never free): the standard fixes this outcome's wording."""

    DIAGNOSTICS: ClassVar[str] = "Slot no longer available"

    def __init__(self) -> None:
        super().__init__(self.DIAGNOSTICS)


class BadGateway(FhirError, status=502, issue_code="transient"):
    pass


class ServiceUnavailable(FhirError, status=503, issue_code="transient"):
    def __init__(self, diagnostics: str, *, retry_after: int = 2) -> None:
        super().__init__(diagnostics, headers={"Retry-After": str(retry_after)})


class GatewayTimeout(FhirError, status=504, issue_code="timeout"):
    pass


class ServerError(FhirError, status=500):
    pass


def _bearer_challenge(error: str, description: str, *, scope: str | None = None) -> str:
    safe = description.replace("\\", "").replace('"', "'")
    challenge = f'Bearer error="{error}", error_description="{safe}"'
    if scope:
        challenge += f', scope="{scope}"'
    return challenge
