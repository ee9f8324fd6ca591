"""Dependencies every handler receives: settings, store, services, the verified caller."""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import Request

from uec_booking.fhir.errors import BadRequest, PayloadTooLarge
from uec_booking.fhir.formats import Format, ParsedResource, body_format, parse_resource
from uec_booking.fhir.http import request_format
from uec_booking.fhir.interactions import Interaction
from uec_booking.provider.booking import AppointmentService
from uec_booking.provider.settings import AuthMode, ProviderSettings
from uec_booking.provider.slot_cache import SlotCache
from uec_booking.provider.store import Store
from uec_booking.provider.store.appointments import Provenance

log = logging.getLogger("uec_booking.provider")


class Authoriser(Protocol):
    """Checks the request's bearer token for an interaction; returns the caller's provenance."""

    async def __call__(
        self, request: Request, interaction: Interaction, resource_type: str | None
    ) -> Provenance: ...


def settings(request: Request) -> ProviderSettings:
    value: ProviderSettings = request.app.state.settings
    return value


def store(request: Request) -> Store:
    value: Store = request.app.state.store
    return value


def slot_cache(request: Request) -> SlotCache | None:
    value: SlotCache | None = request.app.state.slot_cache
    return value


def base_url(request: Request) -> str:
    """The FHIR base URL of this server as consumers address it."""
    configured: str | None = request.app.state.settings.public_base_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/") + "/fhir"


def caller(request: Request, who: Provenance) -> Provenance | None:
    """Whom the provider decides slot visibility for: nobody when authentication is off."""
    off: bool = request.app.state.settings.auth_mode == AuthMode.OFF
    return None if off else who


def search_url(request: Request, resource_type: str) -> str:
    """The URL of this search as consumers address it: the base for its paging links."""
    query = request.url.query
    return f"{base_url(request)}/{resource_type}" + (f"?{query}" if query else "")


# Dependencies are `async def` even when they never await: FastAPI runs a plain `def` one in
# a thread pool, which costs more than the dependency itself.
async def appointment_service(request: Request) -> AppointmentService:
    return AppointmentService(request.app.state.store, base_url(request))


async def response_format(request: Request) -> Format:
    """Negotiated before the handler runs, so an unsupported format is a 415 up front."""
    return request_format(request)


def require(
    interaction: Interaction, resource_type: str | None = None
) -> Callable[[Request], Awaitable[Provenance]]:
    """A dependency that authorises the request for `interaction` and yields its provenance."""

    async def dependency(request: Request) -> Provenance:
        authorise: Authoriser = request.app.state.authorise
        who = await authorise(request, interaction, resource_type)
        request.state.provenance = who
        return who

    return dependency


async def read_body(request: Request, limit: int) -> bytes:
    """The request body (gunzipped when sent gzip), refused past `limit` bytes either way."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body over {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").lower().strip()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise BadRequest(f"Unsupported Content-Encoding '{encoding}'", spine_code="BAD_REQUEST")
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(body, limit + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise BadRequest("Malformed gzip body", spine_code="BAD_REQUEST") from exc
    if len(out) > limit or decompressor.unconsumed_tail:
        raise PayloadTooLarge(f"Decompressed request body over {limit} bytes")
    return out


async def parse_body(request: Request, expected_type: str) -> ParsedResource:
    """The request body, validated as an STU3 resource of `expected_type`."""
    fmt = body_format(request.headers.get("content-type"))
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    if not body.strip():
        raise BadRequest(f"The request needs a {expected_type} body", spine_code="BAD_REQUEST")
    return parse_resource(body, fmt, expected_type)
