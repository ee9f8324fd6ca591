"""Spine Secure Proxy stand-in: a forward HTTP proxy for FHIR requests between consumers and
providers (fs_ssp.md; FHIR Spine Core SSP guide).

Request URL = SSP base + the provider's full URL: `http://ssp/http://provider/fhir/Slot?…`.
The SSP checks the `Ssp-*` headers, that the interaction fits the request, and that the
target is the endpoint SDS registers for `Ssp-To` and that interaction; then it forwards the
request (Authorization included) and streams the answer back. A refused request never
reaches the provider.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from uec_booking.consumer.errors import AsNotFound, NoEndpoint
from uec_booking.consumer.errors import ServiceUnavailable as SdsUnavailable
from uec_booking.fhir.errors import (
    BadGateway,
    BadRequest,
    FhirError,
    Forbidden,
    GatewayTimeout,
    PayloadTooLarge,
    ServiceUnavailable,
)
from uec_booking.fhir.http import error_response
from uec_booking.fhir.interactions import Interaction, parse_interaction

log = logging.getLogger("uec_booking.ssp")

ASID = re.compile(r"^\d{6,15}$")
FORWARDED = (
    "authorization",
    "accept",
    "accept-encoding",
    "content-type",
    "content-encoding",
    "prefer",
    "if-match",
    "x-request-id",
    "ssp-traceid",
    "ssp-from",
    "ssp-to",
    "ssp-interactionid",
)
# Content-Length stays: the body is streamed byte for byte (aiter_raw), so the provider's
# length is still true, and the client is spared chunked decoding.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        # The SSP's own server adds these.
        "date",
        "server",
    }
)
DIRECTORY_TYPES = (
    "Schedule",
    "Slot",
    "Practitioner",
    "PractitionerRole",
    "Location",
    "HealthcareService",
    "Organization",
)


class EndpointRegistry(Protocol):
    """Where SDS says a system (ASID) serves an interaction."""

    async def endpoints(self, asid: str, interaction: Interaction) -> list[str]: ...


class SdsEndpointRegistry:
    """The registry read from SDS over LDAP (the SSP is an SDS client like any other)."""

    def __init__(self, sds: Any) -> None:
        self.sds = sds

    async def endpoints(self, asid: str, interaction: Interaction) -> list[str]:
        try:
            return list(await self.sds.endpoints(await self.sds.party_key(asid), interaction))
        except (AsNotFound, NoEndpoint):
            return []
        except SdsUnavailable as exc:
            raise ServiceUnavailable(f"SDS is unavailable: {exc}") from exc


def interaction_for(method: str, path: str, has_query: bool) -> Interaction | None:
    """The interaction a request to `path` (relative to the FHIR root) performs."""
    parts = [p for p in path.split("/") if p]
    if method == "GET" and parts == ["metadata"]:
        return Interaction.READ_METADATA
    if not parts:
        return None
    resource = parts[0]
    if resource == "Appointment":
        if method == "POST" and len(parts) == 1:
            return Interaction.CREATE_APPOINTMENT
        if method == "PUT" and len(parts) == 2:
            return Interaction.UPDATE_APPOINTMENT
        if method == "GET":
            return (
                Interaction.READ_APPOINTMENT if len(parts) >= 2 else Interaction.SEARCH_APPOINTMENT
            )
        return None
    if resource in DIRECTORY_TYPES and method == "GET" and len(parts) in (1, 2):
        return Interaction.READ_SLOT
    return None


def _normal(url: str) -> str:
    scheme, _, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")


def _token_asid(authorization: str | None) -> str | None:
    """The `asid` claim, read WITHOUT verifying the signature: only to compare with Ssp-From.
    The provider verifies the token itself; a forged asid gains nothing there."""
    if not authorization or " " not in authorization:
        return None
    parts = authorization.split(" ", 1)[1].strip().split(".")
    if len(parts) < 2:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    asid = claims.get("asid") if isinstance(claims, dict) else None
    return str(asid) if asid is not None else None


def _header(request: Request, name: str) -> str:
    value = request.headers.get(name)
    if not value or not value.strip():
        raise BadRequest(f"The {name} header is required", spine_code="BAD_REQUEST")
    return value.strip()


async def _check(request: Request, registry: EndpointRegistry) -> str:
    """The provider URL to forward to, or a FhirError saying why not."""
    trace = _header(request, "Ssp-TraceID")
    try:
        uuid.UUID(trace)
    except ValueError:
        raise BadRequest("Ssp-TraceID must be a UUID", spine_code="BAD_REQUEST") from None
    sender, receiver = _header(request, "Ssp-From"), _header(request, "Ssp-To")
    for name, value in (("Ssp-From", sender), ("Ssp-To", receiver)):
        if not ASID.match(value):
            raise BadRequest(f"{name} must be an ASID", spine_code="BAD_REQUEST")
    interaction = parse_interaction(_header(request, "Ssp-InteractionID"))
    if interaction is None or interaction is Interaction.READ_DIRECTORY:
        raise BadRequest(
            "Ssp-InteractionID is not an interaction of this standard", spine_code="BAD_REQUEST"
        )
    token_asid = _token_asid(request.headers.get("authorization"))
    if token_asid is not None and token_asid != sender:
        raise Forbidden(f"Ssp-From {sender} is not the ASID the access token was issued to")
    target = request.url.path[1:]
    target = re.sub(r"^(https?):/(?!/)", r"\1://", target)  # a collapsed '//' is restored
    if not re.match(r"^https?://[^/]+", target):
        raise BadRequest("The request URL must be the SSP's followed by the provider's full URL")
    endpoints = await registry.endpoints(receiver, interaction)
    if not endpoints:
        raise Forbidden(f"SDS registers no endpoint for {receiver} and {interaction.short}")
    wanted = _normal(target)
    root = next(
        (e for e in map(_normal, endpoints) if wanted == e or wanted.startswith(e + "/")), None
    )
    if root is None:
        raise Forbidden(
            f"{target} is not the endpoint SDS registers for {receiver} and {interaction.short}"
        )
    performed = interaction_for(request.method, wanted[len(root) :], bool(request.url.query))
    if performed is not interaction:
        raise Forbidden(
            f"Ssp-InteractionID {interaction.short} does not fit {request.method} {wanted[len(root) :] or '/'}"
        )
    return target + (f"?{request.url.query}" if request.url.query else "")


def create_app(
    *, registry: EndpointRegistry, timeout: float = 30.0, max_body: int = 1 << 20
) -> Starlette:
    """The SSP's ASGI app."""
    state: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            state["client"] = client
            yield

    async def proxy(request: Request) -> Response:
        trace = request.headers.get("ssp-traceid", "-")
        try:
            target = await _check(request, registry)
            body = await _read(request, max_body)
            return await _forward(state["client"], request, target, body)
        except FhirError as error:
            log.warning(
                "SSP refused %s %s [trace %s]: %s",
                request.method,
                request.url.path,
                trace,
                error.diagnostics,
            )
            return error_response(request, error)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return Starlette(
        routes=[Route("/_health", health), Route("/{target:path}", proxy, methods=methods)],
        lifespan=lifespan,
    )


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _forward(
    client: httpx.AsyncClient, request: Request, target: str, body: bytes
) -> Response:
    headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED}
    # httpx would ask for gzip on its own; the body is relayed byte for byte, so the provider
    # may compress only if the consumer itself said it can decompress.
    if not any(k.lower() == "accept-encoding" for k in headers):
        headers["Accept-Encoding"] = "identity"
    upstream = client.build_request(request.method, target, headers=headers, content=body)
    try:
        response = await client.send(upstream, stream=True)
    except httpx.TimeoutException as exc:
        raise GatewayTimeout(f"The provider did not answer in time: {target}") from exc
    except httpx.TransportError as exc:
        raise BadGateway(f"The provider could not be reached: {exc}") from exc
    log.info(
        "SSP %s %s -> %s [trace %s]",
        request.method,
        target,
        response.status_code,
        request.headers.get("ssp-traceid"),
    )
    out = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
    return StreamingResponse(
        response.aiter_raw(),
        status_code=response.status_code,
        headers=out,
        background=BackgroundTask(response.aclose),
    )
