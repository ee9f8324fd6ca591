"""The one way to build an OperationOutcome."""

from __future__ import annotations

import uuid
from typing import Any

from uec_booking.fhir.errors import FhirError
from uec_booking.fhir.urls import SPINE_ERROR_SYSTEM, profiles

# Displays from the Spine-ErrorOrWarningCode-1 value set for the codes we emit.
SPINE_DISPLAY: dict[str, str] = {
    "ACCESS_DENIED": "Access has been denied to process this request",
    "BAD_REQUEST": "Bad request",
    "DUPLICATE_REJECTED": "Create would lead to creation of a duplicate resource",
    "INTERNAL_SERVER_ERROR": "Unexpected internal server error",
    "INVALID_IDENTIFIER_SYSTEM": "Invalid identifier system",
    "INVALID_NHS_NUMBER": "Invalid NHS number",
    "INVALID_PARAMETER": "Invalid parameter",
    "INVALID_REQUEST_MESSAGE": "Invalid request message",
    "INVALID_RESOURCE": "Invalid validation of resource",
    "NO_RECORD_FOUND": "No record found",
    "NOT_IMPLEMENTED": "Not implemented",
    "PRECONDITION_FAILED": "Precondition failed",
    "REFERENCE_NOT_FOUND": "Reference not found",
    "UNSUPPORTED_MEDIA_TYPE": "Unsupported media type",
}


def issue(
    *,
    code: str,
    diagnostics: str,
    severity: str = "error",
    spine_code: str | None = None,
    expression: str | None = None,
) -> dict[str, Any]:
    """One OperationOutcome.issue."""
    item: dict[str, Any] = {"severity": severity, "code": code}
    if spine_code:
        display = SPINE_DISPLAY.get(spine_code, spine_code.replace("_", " ").capitalize())
        item["details"] = {
            "coding": [{"system": SPINE_ERROR_SYSTEM, "code": spine_code, "display": display}]
        }
    item["diagnostics"] = diagnostics
    if expression:
        item["expression"] = [expression]
    return item


def operation_outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    """An OperationOutcome (with a fresh id, as the standard requires) holding `issues`."""
    return {
        "resourceType": "OperationOutcome",
        "id": str(uuid.uuid4()),
        "meta": {"profile": profiles("OperationOutcome")},
        "issue": list(issues),
    }


def outcome_for(error: FhirError) -> dict[str, Any]:
    """The OperationOutcome an error turns into."""
    return operation_outcome(
        issue(
            code=error.code,
            diagnostics=error.diagnostics,
            spine_code=error.spine,
            expression=error.expression,
        )
    )
