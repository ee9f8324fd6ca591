"""FHIR HTTP responses for every server here (provider, PDS, SSP): one place for headers."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


def accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


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
    gzip_ok = accepts_gzip(request)
    out = {"Cache-Control": NO_STORE, **(headers or {})}
    return _XmlResponse(render, gzip_ok=gzip_ok, status_code=status, headers=out)


def fhir_json_response(
    request: Request,
    body: bytes | Sequence[bytes | Deflated],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A FHIR JSON resource already serialised, with the headers `fhir_response` sends. The
    body may come in pieces, some deflated already (`Deflated`): gzipped, only the others are
    compressed."""
    return serialised_response(request, body, Format.JSON, status=status, headers=headers)


def serialised_response(
    request: Request,
    body: bytes | Sequence[bytes | Deflated],
    fmt: Format,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """`fhir_json_response` in either format: for a body already serialised (XML that must
    still be rendered goes to `fhir_xml_response`, off the event loop)."""
    out = {"Cache-Control": NO_STORE, **(headers or {})}
    encoded, extra = _encoded([body] if isinstance(body, bytes) else body, accepts_gzip(request))
    return Response(
        encoded, status_code=status, headers={**out, **extra}, media_type=_media_type(fmt)
    )


def _media_type(fmt: Format) -> str:
    return f"{fmt.media_type};charset=utf-8"  # no space: implementation_api


GZIP_LEVEL = 5
GZIP_MIN_BYTES = 1024  # smaller answers go as they are: gzip's framing would outweigh it
# RFC 1952 member header: DEFLATE, no flags, no modification time, no extra flags, OS unknown.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _deflate(raw: bytes, mode: int) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(raw) + compressor.flush(mode)


@dataclass(frozen=True, slots=True)
class Deflated:
    """Bytes and their raw DEFLATE (RFC 1951), made once and ended by a full flush: byte
    aligned and referring to nothing before it, so pieces deflated apart join into one stream
    (as pigz builds its output). A body built around a kept piece is then gzipped by
    compressing only what surrounds it."""

    raw: bytes
    deflated: bytes

    @classmethod
    def of(cls, raw: bytes) -> Deflated:
        return cls(raw, _deflate(raw, zlib.Z_FULL_FLUSH))

    def __len__(self) -> int:
        return len(self.raw)


def gzip_pieces(pieces: Sequence[bytes | Deflated]) -> bytes:
    """One gzip member of the pieces joined: each deflated (the `Deflated` ones already),
    then an empty final block, the CRC-32 and the length of the whole."""
    crc, size, out = 0, 0, [_GZIP_HEADER]
    for piece in pieces:
        raw = piece.raw if isinstance(piece, Deflated) else piece
        crc, size = zlib.crc32(raw, crc), size + len(raw)
        out.append(
            piece.deflated if isinstance(piece, Deflated) else _deflate(raw, zlib.Z_FULL_FLUSH)
        )
    out.append(_deflate(b"", zlib.Z_FINISH))
    out.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(out)


def _encoded(pieces: Sequence[bytes | Deflated], gzip_ok: bool) -> tuple[bytes, dict[str, str]]:
    raws = [p.raw if isinstance(p, Deflated) else p for p in pieces]
    if sum(map(len, raws)) > GZIP_MIN_BYTES and gzip_ok:
        return gzip_pieces(pieces), {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
    return b"".join(raws), {}


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
        return _encoded([self._render_body()], self._gzip_ok)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, extra = await anyio.to_thread.run_sync(self._render)
        self.body = body
        self.init_headers({**self._given_headers, **extra})
        await super().__call__(scope, receive, send)


def error_response(request: Request, error: FhirError) -> Response:
    """The OperationOutcome response for an error, in the client's format when it has one."""
    return fhir_response(request, outcome_for(error), status=error.status, headers=error.headers)
