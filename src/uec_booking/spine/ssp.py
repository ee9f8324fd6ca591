"""Spine Secure Proxy stand-in: a forward HTTP proxy for FHIR requests between consumers and
providers (fs_ssp.md; the FHIR Spine Core SSP implementation guide, copied beside this file
in `contracts/`).

Request URL = SSP base + the provider's full URL: `https://ssp/https://provider/fhir/Slot?…`.
The SSP authenticates the consumer by TLS mutual authentication (no client certificate →
496; a certificate whose FQDN SDS does not register for `Ssp-From` → 495; an untrusted or
expired certificate is refused in the TLS handshake), checks the `Ssp-*` headers, that the
interaction fits the request, and that the target is the endpoint SDS registers for `Ssp-To`
and that interaction. Then it relays the request and the answer unchanged (the guide:
"Request and response HTTP headers SHALL NOT be modified", no payload limit): only
hop-by-hop headers (RFC 7230 §6.1, and those named in `Connection`) are dropped, RFC 7239
`Forwarded` is added, bodies stream both ways in bounded memory, and the target path is
relayed byte for byte as the consumer percent-encoded it. A refused request never reaches
the provider.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar, cast
from urllib.parse import unquote, urlsplit

import httpcore
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from uec_booking.asgi_server import HSTS, PEER_CERT
from uec_booking.fhir.errors import (
    BadGateway,
    BadRequest,
    FhirError,
    Forbidden,
    GatewayTimeout,
    ServiceUnavailable,
)
from uec_booking.fhir.http import error_response
from uec_booking.fhir.interactions import Interaction, parse_interaction
from uec_booking.spine.ssp_registry import EndpointRegistry, RegistryUnavailable
from uec_booking.tls import peer_fqdns

log = logging.getLogger("uec_booking.ssp")

ASID = re.compile(r"^\d{6,15}$")
SSP_HEADERS = ("ssp-traceid", "ssp-from", "ssp-to", "ssp-interactionid")
BUFFERED = 1 << 20  # answers up to this size are relayed in one piece, larger ones streamed
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",  # the target's, set from the URL
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
__all__ = ["EndpointRegistry", "create_app", "interaction_for"]


class CertificateError(FhirError):
    """495 SSL Certificate Error: the client certificate is not the sender's (the guide)."""

    status: ClassVar[int] = 495
    issue_code: ClassVar[str] = "security"
    spine_code: ClassVar[str | None] = "ACCESS_DENIED"


class CertificateRequired(FhirError):
    """496 SSL Certificate Required: no client certificate was presented (the guide)."""

    status: ClassVar[int] = 496
    issue_code: ClassVar[str] = "security"
    spine_code: ClassVar[str | None] = "ACCESS_DENIED"


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


def _token_asid(authorization: str) -> str | None:
    """The `asid` claim, read WITHOUT verifying the signature: only to compare with Ssp-From.
    The provider verifies the token itself; a forged asid gains nothing there. A header
    that is no bearer JWT, or whose payload is not a JSON object, is refused (400)."""
    scheme, _, token = authorization.partition(" ")
    parts = token.strip().split(".")
    if scheme.lower() != "bearer" or len(parts) < 2:
        raise BadRequest("Authorization must be a Bearer JWT", spine_code="BAD_REQUEST")
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise BadRequest(
            "The bearer token's payload is not JSON", spine_code="BAD_REQUEST"
        ) from None
    if not isinstance(claims, dict):
        raise BadRequest(
            "The bearer token's payload is not a JSON object", spine_code="BAD_REQUEST"
        )
    asid = claims.get("asid")
    return str(asid) if isinstance(asid, str | int) else None


def _header(request: Request, name: str) -> str:
    values = request.headers.getlist(name)
    if len(values) > 1:
        # Checking one copy and forwarding both would let the other through unchecked.
        raise BadRequest(
            f"The {name} header is given {len(values)} times", spine_code="BAD_REQUEST"
        )
    if not values or not values[0].strip():
        raise BadRequest(f"The {name} header is required", spine_code="BAD_REQUEST")
    return values[0].strip()


async def _check_sender(
    request: Request, registry: EndpointRegistry, sender: str, mutual_tls: bool
) -> None:
    """Ssp-From is who the client certificate (TLS-MA) and the access token say it is."""
    authorization = request.headers.getlist("authorization")
    if len(authorization) > 1:
        raise BadRequest("The Authorization header is given twice", spine_code="BAD_REQUEST")
    token_asid = _token_asid(authorization[0]) if authorization else None
    if token_asid is not None and token_asid != sender:
        raise Forbidden(f"Ssp-From {sender} is not the ASID the access token was issued to")
    if mutual_tls:
        peer = request.scope.get("state", {}).get(PEER_CERT)
        if not peer:
            raise CertificateRequired(
                "A client certificate is required (TLS mutual authentication)"
            )
        presented = peer_fqdns(peer)
        registered = await registry.fqdns(sender)
        if not presented & registered:
            raise CertificateError(
                f"The client certificate ({', '.join(sorted(presented)) or 'no FQDN'}) is not "
                f"the FQDN SDS registers for Ssp-From {sender}"
            )
    elif authorization and token_asid is None:
        # Without a certificate the token is the only evidence of the sender: one that
        # names no ASID cannot vouch for Ssp-From, so it is not waved through.
        raise Forbidden(
            "The access token names no ASID and no client certificate was presented: "
            "Ssp-From cannot be checked"
        )


def _target(request: Request) -> str:
    """The provider URL exactly as the consumer percent-encoded it (raw_path: the server's
    decoded `path` would turn `%20` into a space and `%252e` into `%2e`)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    try:
        target = raw.decode("ascii")[1:]
    except UnicodeDecodeError:
        raise BadRequest("The request URL must be percent-encoded ASCII") from None
    target = re.sub(r"^(https?):/(?!/)", r"\1://", target)  # a collapsed '//' is restored
    if not re.match(r"^https?://[^/?#\s]+", target):
        raise BadRequest("The request URL must be the SSP's followed by the provider's full URL")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in unquote(target)):
        # An encoded space is fine in a FHIR id position; encoded control characters
        # (newline, NUL) are never part of a FHIR URL and could split headers downstream.
        raise BadRequest("The request URL contains an encoded control character")
    if any(seg in (".", "..") for seg in unquote(urlsplit(target).path).split("/")):
        raise BadRequest("The request URL must not contain dot segments")
    return target


async def _check(request: Request, registry: EndpointRegistry, mutual_tls: bool) -> str:
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
    target = _target(request)
    await _check_sender(request, registry, sender, mutual_tls)
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
    performed = interaction_for(
        request.method, unquote(wanted[len(root) :]), bool(request.url.query)
    )
    if performed is not interaction:
        raise Forbidden(
            f"Ssp-InteractionID {interaction.short} does not fit {request.method} {wanted[len(root) :] or '/'}"
        )
    query = request.scope.get("query_string", b"").decode("latin-1")
    return target + (f"?{query}" if query else "")


def create_app(
    *, registry: EndpointRegistry, timeout: float = 30.0, mutual_tls: bool = True
) -> Starlette:
    """The SSP's ASGI app. `mutual_tls=False` only for plain-HTTP debugging (`--plain`):
    then no client certificate is checked, and the sender rests on the access token."""
    state: dict[str, httpcore.AsyncConnectionPool] = {}
    if not mutual_tls:
        log.warning("SSP runs WITHOUT TLS mutual authentication: debugging only")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # httpcore, httpx's transport: the target URL is relayed as the consumer wrote it,
        # without httpx's URL normalisation. Its TLS context: the SSP's client certificate
        # towards providers, and the CA that providers' server certificates come from.
        context = getattr(app.state, "upstream_tls", None)
        async with httpcore.AsyncConnectionPool(max_connections=200, ssl_context=context) as pool:
            state["pool"] = pool
            yield

    async def proxy(request: Request) -> Response:
        trace = request.headers.get("ssp-traceid", "-")
        try:
            target = await _check(request, registry, mutual_tls)
            return await _forward(state["pool"], request, target, timeout)
        except RegistryUnavailable as exc:
            error: FhirError = ServiceUnavailable(f"SDS is unavailable: {exc}")
        except FhirError as exc:
            error = exc
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

    app = Starlette(routes=[Route("/_health", health)], lifespan=lifespan)

    async def everything_else(scope: Scope, receive: Receive, send: Send) -> None:
        # Every other path is a target, whatever it holds: a route pattern would not match
        # an encoded newline and would answer a plain 404 instead of our OperationOutcome.
        if scope["type"] != "http":
            return
        response = await proxy(Request(scope, receive))
        await response(scope, receive, send)

    app.router.default = everything_else
    return app


def _relayed(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Every header but the hop-by-hop ones (RFC 7230 §6.1: also those `Connection` names)."""
    named = {
        token.strip().lower()
        for k, v in headers
        if k.lower() == "connection"
        for token in v.split(",")
    }
    return [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() not in named]


def _forwarded(request: Request) -> str:
    """RFC 7239 `Forwarded` for this hop (appended to any the consumer's proxies added)."""
    client = request.client.host if request.client else "unknown"
    node = f'"[{client}]"' if ":" in client else client
    host = request.headers.get("host", "")
    return f'for={node};proto={request.url.scheme};host="{host}"'


async def _forward(
    pool: httpcore.AsyncConnectionPool, request: Request, target: str, timeout: float
) -> Response:
    incoming = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]]
    headers = _relayed(incoming)
    prior = ", ".join(v for k, v in headers if k.lower() == "forwarded")
    headers = [(k, v) for k, v in headers if k.lower() != "forwarded"]
    headers.append(
        ("forwarded", f"{prior}, {_forwarded(request)}" if prior else _forwarded(request))
    )
    has_length = any(k.lower() == "content-length" for k, _ in headers)
    chunked = any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in incoming)
    if chunked and not has_length:
        headers.append(("transfer-encoding", "chunked"))  # streamed on as it came
    declared = _content_length(incoming)
    body: bytes | AsyncIterable[bytes] = b""
    if declared is not None and declared <= BUFFERED:
        # A small body (a booking) read whole and sent with its headers: streamed, it went
        # as separate writes, the provider waiting on the second.
        body = await request.body()
    elif has_length or chunked:
        body = request.stream()  # streams through in bounded memory, whatever its size
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
    out = _relayed([(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers])
    stream = cast(AsyncIterable[bytes], response.stream)
    length = _content_length(out)
    if length is not None and length <= BUFFERED:
        # Small answers (most FHIR answers) in one piece: streaming costs a task group.
        try:
            content = b"".join([chunk async for chunk in stream])
        except httpcore.TimeoutException as exc:
            raise GatewayTimeout(f"The provider did not finish in time: {target}") from exc
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise BadGateway(f"The provider's answer broke off: {exc!r}") from exc
        finally:
            await response.aclose()
        result: Response = Response(content, status_code=response.status)
    else:
        result = StreamingResponse(
            stream, status_code=response.status, background=BackgroundTask(response.aclose)
        )
    # Headers as the provider sent them (repeats kept; Date and Server too, as the SSP's
    # server adds none); Content-Length stays true, the body being relayed byte for byte.
    if request.url.scheme == "https" and not any(
        k.lower() == "strict-transport-security" for k, _ in out
    ):
        out.append(("strict-transport-security", HSTS))  # the guide: HSTS SHALL be employed
    result.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in out]
    return result


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for k, v in headers:
        if k.lower() == "content-length" and v.isdigit():
            return int(v)
    return None


def upstream_context(app: Starlette, context: Any) -> None:
    """Give the SSP app the TLS context it uses towards providers (set before it starts)."""
    app.state.upstream_tls = context
