"""What the SSP checks before it relays anything (the FHIR Spine Core SSP implementation
guide, `contracts/`): the `Ssp-*` headers, who the sender is (client certificate and token
against `Ssp-From`), that the target is the endpoint SDS registers for `Ssp-To` and the
interaction, and that the request performs that interaction. Each refusal is a FhirError
with the guide's status."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from starlette.requests import Request

from uec_booking.asgi_server import PEER_CERT
from uec_booking.fhir.errors import BadRequest, FhirError, Forbidden
from uec_booking.fhir.interactions import Interaction, parse_interaction
from uec_booking.spine.ssp_registry import EndpointRegistry
from uec_booking.tls import peer_fqdns

ASID = re.compile(r"^\d{6,15}$")
DIRECTORY_TYPES = (
    "Schedule",
    "Slot",
    "Practitioner",
    "PractitionerRole",
    "Location",
    "HealthcareService",
    "Organization",
)


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


async def check_request(request: Request, registry: EndpointRegistry, mutual_tls: bool) -> str:
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
