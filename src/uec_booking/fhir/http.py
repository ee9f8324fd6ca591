"""FHIR HTTP responses for every server here (provider, PDS, SSP): one place for headers."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

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
    if fmt is Format.XML:
        return fhir_xml_response(
            request, partial(dumps, resource, Format.XML), status=status, headers=headers
        )
    return fhir_json_response(request, dumps(resource, fmt), status=status, headers=headers)


def fhir_xml_response(
    request: Request,
    render: Callable[[], bytes],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A FHIR XML response, `render` giving its body. XML costs several times JSON, so it is
    rendered in a worker thread: a big searchset never holds up the event loop (and every
    other request on it, /_health included)."""
    gzip_ok = "gzip" in request.headers.get("accept-encoding", "").lower()
    out = {"Cache-Control": NO_STORE, **(headers or {})}
    return _XmlResponse(render, gzip_ok=gzip_ok, status_code=status, headers=out)


def fhir_json_response(
    request: Request, body: bytes, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A FHIR JSON resource already serialised, with the headers `fhir_response` sends."""
    out = {"Cache-Control": NO_STORE, **(headers or {})}
    gzip_ok = "gzip" in request.headers.get("accept-encoding", "").lower()
    body, extra = _encoded(body, gzip_ok)
    return Response(
        body, status_code=status, headers={**out, **extra}, media_type=_media_type(Format.JSON)
    )


def _media_type(fmt: Format) -> str:
    return f"{fmt.media_type};charset=utf-8"  # no space: implementation_api


def _encoded(body: bytes, gzip_ok: bool) -> tuple[bytes, dict[str, str]]:
    if len(body) > 1024 and gzip_ok:
        return gzip.compress(body, compresslevel=5), {
            "Content-Encoding": "gzip",
            "Vary": "Accept-Encoding",
        }
    return body, {}


class _XmlResponse(Response):
    """A FHIR XML response whose body is rendered (and gzipped) in a worker thread."""

    def __init__(
        self,
        render: Callable[[], bytes],
        *,
        gzip_ok: bool,
        status_code: int,
        headers: dict[str, str],
    ) -> None:
        self._render_body = render
        self._gzip_ok = gzip_ok
        self._given_headers = headers
        super().__init__(
            b"", status_code=status_code, headers=headers, media_type=_media_type(Format.XML)
        )

    def _render(self) -> tuple[bytes, dict[str, str]]:
        return _encoded(self._render_body(), self._gzip_ok)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, extra = await anyio.to_thread.run_sync(self._render)
        self.body = body
        self.init_headers({**self._given_headers, **extra})
        await super().__call__(scope, receive, send)


def error_response(request: Request, error: FhirError) -> Response:
    """The OperationOutcome response for an error, in the client's format when it has one."""
    return fhir_response(request, outcome_for(error), status=error.status, headers=error.headers)
