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
the provider. The checks are in `ssp_checks.py`; the relay is here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import urlsplit

import httpcore
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from uec_booking.asgi_server import HSTS
from uec_booking.fhir.errors import BadGateway, FhirError, GatewayTimeout, ServiceUnavailable
from uec_booking.fhir.http import error_response
from uec_booking.spine.ssp_checks import check_request, interaction_for
from uec_booking.spine.ssp_registry import EndpointRegistry, RegistryUnavailable

log = logging.getLogger("uec_booking.ssp")

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
__all__ = ["EndpointRegistry", "create_app", "interaction_for"]


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
            target = await check_request(request, registry, mutual_tls)
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
        content=await _request_content(request, headers, chunked),
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


async def _request_content(
    request: Request, headers: list[tuple[str, str]], chunked: bool
) -> bytes | AsyncIterable[bytes]:
    """A small body (most FHIR requests) read whole and sent in one write with the head; any
    other streams through in the server's chunks: memory is bounded, size is not."""
    length = _content_length(headers)
    if length is not None and length <= BUFFERED and not chunked:
        return await request.body()
    return request.stream() if (length is not None or chunked) else b""


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for k, v in headers:
        if k.lower() == "content-length" and v.isdigit():
            return int(v)
    return None


def upstream_context(app: Starlette, context: Any) -> None:
    """Give the SSP app the TLS context it uses towards providers (set before it starts)."""
    app.state.upstream_tls = context
