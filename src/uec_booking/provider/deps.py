"""Dependencies every handler receives: settings, store, services, the verified caller."""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import Depends, Request
from fastapi.responses import Response

from uec_booking.fhir.errors import BadRequest, FhirError, PayloadTooLarge
from uec_booking.fhir.formats import Format, ParsedResource, body_format, parse_resource
from uec_booking.fhir.http import fhir_response, request_format
from uec_booking.fhir.interactions import Interaction
from uec_booking.provider.booking import AppointmentService
from uec_booking.provider.search import ParsedSearch, parse_search
from uec_booking.provider.search_params import SearchSpec
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
    access = request.app.state.settings.appointment_access
    return AppointmentService(request.app.state.store, base_url(request), access)


# Interactions whose every attempt, refused ones included, goes into the audit trail.
AUDITED = frozenset(
    {
        Interaction.CREATE_APPOINTMENT,
        Interaction.UPDATE_APPOINTMENT,
        Interaction.READ_APPOINTMENT,
    }
)


async def response_format(request: Request) -> Format:
    """Negotiated before the handler runs, so an unsupported format is a 415 up front."""
    return request_format(request)


def require(
    interaction: Interaction, resource_type: str | None = None
) -> Callable[[Request], Awaitable[Provenance]]:
    """A dependency that authorises the request for `interaction` and yields its provenance."""

    async def dependency(request: Request) -> Provenance:
        authorise: Authoriser = request.app.state.authorise
        try:
            who = await authorise(request, interaction, resource_type)
        except FhirError as error:
            if interaction in AUDITED:
                await _audit_refused(request, interaction, error)
            raise
        request.state.provenance = who
        return who

    return dependency


@dataclass(frozen=True, slots=True)
class Exchange:
    """What every FHIR handler works with: the request, the response format negotiated for
    it, and the caller verified for the handler's interaction."""

    request: Request
    fmt: Format
    who: Provenance

    def respond(
        self, resource: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return fhir_response(self.request, resource, status=status, headers=headers, fmt=self.fmt)


def exchange(
    interaction: Interaction, resource_type: str | None = None
) -> Callable[..., Awaitable[Exchange]]:
    """A dependency that negotiates the format (415 first), then authorises `interaction`."""
    authorised = require(interaction, resource_type)

    async def dependency(
        request: Request,
        fmt: Format = Depends(response_format),
        who: Provenance = Depends(authorised),
    ) -> Exchange:
        return Exchange(request, fmt, who)

    return dependency


def strict_handling(request: Request) -> bool:
    """`Prefer: handling=strict` (RFC 7240; FHIR search): unknown parameters are refused.
    Found whether written as a preference of its own or after a `;` (as clients do)."""
    for header in request.headers.getlist("prefer"):
        for preference in re.split("[,;]", header):
            name, _, value = preference.partition("=")
            if name.strip().lower() == "handling" and value.strip().strip('"').lower() == "strict":
                return True
    return False


def search_parameters(spec: SearchSpec) -> Callable[[Request], Awaitable[ParsedSearch]]:
    """A dependency that parses the query by `spec`: the one place every search is read,
    leniently or, when the request asks, strictly. Declared after the caller's
    dependency, so an unauthorised search is refused before its query is judged."""

    async def dependency(request: Request) -> ParsedSearch:
        items = list(request.query_params.multi_items())
        return parse_search(spec, items, strict=strict_handling(request))

    return dependency


async def _audit_refused(request: Request, interaction: Interaction, error: FhirError) -> None:
    """A request refused before its token was accepted: audited with the identity its
    Spine headers claim (all there is), marked unverified by the missing client id."""
    headers = request.headers
    request_id = headers.get("x-request-id")
    who = Provenance(
        asid=(headers.get("ssp-from") or "")[:64] or None,
        trace_id=(headers.get("ssp-traceid") or "")[:128] or None,
        request_id=request_id[:128] if request_id and request_id.isprintable() else None,
    )
    service = await appointment_service(request)
    await service.audit_failure(interaction, error, who)


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
