"""FHIR HTTP responses for every server here (provider, PDS, SSP): one place for headers."""

from __future__ import annotations

import gzip
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from uec_booking.fhir.errors import FhirError, UnsupportedMediaType
from uec_booking.fhir.formats import Format, dumps, negotiate
from uec_booking.fhir.outcome import outcome_for

NO_STORE = "no-store"


def request_format(request: Request) -> Format:
    """The format the client asked for (`_format` over `Accept`)."""
    return negotiate(request.headers.get("accept"), request.query_params.get("_format"))


def fhir_response(
    request: Request,
    resource: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    fmt: Format | None = None,
) -> Response:
    """Serialise `resource` in the negotiated format with the standard's headers."""
    if fmt is None:
        try:
            fmt = request_format(request)
        except UnsupportedMediaType:
            fmt = Format.JSON
    body = dumps(resource, fmt)
    out = {"Cache-Control": NO_STORE, **(headers or {})}
    if len(body) > 1024 and "gzip" in request.headers.get("accept-encoding", "").lower():
        body = gzip.compress(body, compresslevel=5)
        out["Content-Encoding"] = "gzip"
        out["Vary"] = "Accept-Encoding"
    return Response(
        body, status_code=status, headers=out, media_type=f"{fmt.media_type};charset=utf-8"
    )


def error_response(request: Request, error: FhirError) -> Response:
    """The OperationOutcome response for an error, in the client's format when it has one."""
    return fhir_response(request, outcome_for(error), status=error.status, headers=error.headers)
