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
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

import httpcore
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
# Content-Length stays: the body is relayed byte for byte, so the provider's length is
# still true, and the client is spared chunked decoding.
BUFFERED = 4 << 20  # answers up to this size are relayed in one piece
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
    state: dict[str, httpcore.AsyncConnectionPool] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # httpcore, httpx's transport: the target URL is relayed as the consumer wrote it,
        # without httpx's URL normalisation (a third of the proxy's time on a Slot search).
        async with httpcore.AsyncConnectionPool(max_connections=200) as pool:
            state["pool"] = pool
            yield

    async def proxy(request: Request) -> Response:
        trace = request.headers.get("ssp-traceid", "-")
        try:
            target = await _check(request, registry)
            body = await _read(request, max_body)
            return await _forward(state["pool"], request, target, body, timeout)
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
    pool: httpcore.AsyncConnectionPool,
    request: Request,
    target: str,
    body: bytes,
    timeout: float,
) -> Response:
    headers = [(k, v) for k, v in request.headers.items() if k in FORWARDED]
    # The body is relayed byte for byte, so the provider may compress only if the consumer
    # itself said it can decompress.
    if not any(k == "accept-encoding" for k, _ in headers):
        headers.append(("accept-encoding", "identity"))
    if body or request.method in ("POST", "PUT", "PATCH"):
        headers.append(("content-length", str(len(body))))
    parts = urlsplit(target)
    upstream = httpcore.Request(
        request.method,
        httpcore.URL(
            scheme=parts.scheme,
            host=parts.hostname or "",
            port=parts.port,
            target=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        ),
        headers=[("host", parts.netloc), *headers],
        content=body,
        extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)},
    )
    try:
        response = await pool.handle_async_request(upstream)
    except httpcore.TimeoutException as exc:
        raise GatewayTimeout(f"The provider did not answer in time: {target}") from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise BadGateway(f"The provider could not be reached: {exc!r}") from exc
    log.info(
        "SSP %s %s -> %s [trace %s]",
        request.method,
        target,
        response.status,
        request.headers.get("ssp-traceid"),
    )
    out = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in response.headers
        if k.decode("latin-1").lower() not in HOP_BY_HOP
    ]
    stream = cast(AsyncIterable[bytes], response.stream)
    length = _content_length(out)
    if length is not None and length <= BUFFERED:
        # Small answers (every FHIR answer here) in one piece: streaming costs a task group.
        try:
            content = b"".join([chunk async for chunk in stream])
        except httpcore.TimeoutException as exc:
            raise GatewayTimeout(f"The provider did not finish in time: {target}") from exc
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise BadGateway(f"The provider's answer broke off: {exc!r}") from exc
        finally:
            await response.aclose()
        result = Response(content, status_code=response.status)
    else:
        result = StreamingResponse(
            stream, status_code=response.status, background=BackgroundTask(response.aclose)
        )
    # Headers as the provider sent them (case and repeats kept); Content-Length stays true.
    result.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in out]
    return result


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for k, v in headers:
        if k.lower() == "content-length" and v.isdigit():
            return int(v)
    return None
