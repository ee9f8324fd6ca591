"""Interim-mode access tokens (fs_authentication.md, "JWT without an Authorisation Server"):
the consumer builds an unsigned JWT per request; the SSP vouches for the sending system.

What a provider in interim mode holds the token to, from the standard's SHALL text: header
`alg: none`; an empty signature part (the token ends in a `.`); every SHALL claim present —
`iss`, `sub`, `aud`, `exp`, `iat`, `reason_for_request` (`directcare`), `requested_scope`,
`requesting_device` (a Device with an identifier, `model`, `version`) and
`requesting_organization` (an Organization with a `name` and an ODS code identifier);
`aud` equal to the provider's service root URL; `exp = iat + 300`, both integers, with a
bounded clock skew. `requesting_practitioner` may be present or absent; when present its
`id` matches `sub`. Any failure is RFC 6750 `invalid_token`.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from uec_booking.fhir.errors import Unauthorized

INTERIM_LIFETIME_S = 300
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"

# Interim tokens name one scope; these are the interactions each one allows. The write scope
# "supports verbs up to and including ones that can change data" (fs_authentication), so it
# reads appointments too; the read scopes only read.
INTERIM_SCOPES: dict[str, frozenset[str]] = {
    "organization/slot.read": frozenset({"read:metadata", "read:slot"}),
    "patient/appointment.read": frozenset(
        {"read:metadata", "read:appointment", "search:appointment"}
    ),
    "patient/appointment.write": frozenset(
        {
            "read:metadata",
            "create:appointment",
            "update:appointment",
            "read:appointment",
            "search:appointment",
        }
    ),
}
# The scope a consumer names per interaction (the table on fs_authentication).
SCOPE_FOR_INTERACTION: dict[str, str] = {
    "read:metadata": "organization/slot.read",
    "read:slot": "organization/slot.read",
    "read:directory": "organization/slot.read",
    "read:appointment": "patient/appointment.read",
    "search:appointment": "patient/appointment.read",
    "create:appointment": "patient/appointment.write",
    "update:appointment": "patient/appointment.write",
}


def _part(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise Unauthorized(f"Malformed access token: its {what} is not base64url JSON") from exc
    if not isinstance(value, dict):
        raise Unauthorized(f"Malformed access token: its {what} is not a JSON object")
    return value


def _integer(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if value is None:
        raise Unauthorized(f"The interim token lacks the {name} claim")
    if not isinstance(value, int) or isinstance(value, bool):
        raise Unauthorized(f"The interim token's {name} must be an integer (UNIX time)")
    return value


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Unauthorized(f"The interim token lacks the {name} claim")
    return value


def _identifiers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = resource.get("identifier")
    if not isinstance(found, list):
        return []
    return [i for i in found if isinstance(i, dict) and i.get("system") and i.get("value")]


def _device(claims: dict[str, Any]) -> dict[str, Any]:
    device = claims.get("requesting_device")
    if not isinstance(device, dict) or device.get("resourceType") != "Device":
        raise Unauthorized("requesting_device must be a Device resource")
    if not _identifiers(device):
        raise Unauthorized("requesting_device needs an identifier with system and value")
    if not device.get("model") or not device.get("version"):
        raise Unauthorized("requesting_device needs model and version")
    return device


def _organization_ods(claims: dict[str, Any]) -> str:
    org = claims.get("requesting_organization")
    if not isinstance(org, dict) or org.get("resourceType") != "Organization":
        raise Unauthorized("requesting_organization must be an Organization resource")
    if not org.get("name"):
        raise Unauthorized("requesting_organization needs a name")
    ods = next((i["value"] for i in _identifiers(org) if i["system"] == ODS_SYSTEM), None)
    if not isinstance(ods, str):
        raise Unauthorized(f"requesting_organization needs an identifier in {ODS_SYSTEM}")
    return ods


def check_interim(
    token: str, *, audience: str | None, leeway: int, now: float | None = None
) -> tuple[dict[str, Any], str, str]:
    """The claims of a valid interim token, its requested scope and the consumer's ODS code;
    Unauthorized otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("Malformed access token: a JWT has three parts")
    header, claims = _part(parts[0], "header"), _part(parts[1], "payload")
    if header.get("alg") != "none":
        raise Unauthorized("Interim tokens are unsecured JWTs: header alg must be 'none'")
    if parts[2]:
        raise Unauthorized("Interim tokens carry an empty signature (the token ends in '.')")
    _text(claims, "iss")
    sub, aud = _text(claims, "sub"), _text(claims, "aud")
    if audience is None:
        raise Unauthorized("This provider has no service root URL to check aud against")
    if aud.rstrip("/") != audience.rstrip("/"):
        raise Unauthorized(
            f"The token is not for this service (aud {aud!r}, expected {audience!r})"
        )
    iat, exp = _integer(claims, "iat"), _integer(claims, "exp")
    current = time.time() if now is None else now
    if exp - iat != INTERIM_LIFETIME_S:
        raise Unauthorized("Interim tokens expire 5 minutes after they are made (exp = iat + 300)")
    if iat - leeway > current:
        raise Unauthorized("The token was issued in the future (iat)")
    if exp + leeway <= current:
        raise Unauthorized("The token has expired (exp)")
    if claims.get("reason_for_request") != "directcare":
        raise Unauthorized("reason_for_request must be 'directcare'")
    scope = claims.get("requested_scope")
    if not isinstance(scope, str) or scope not in INTERIM_SCOPES:
        raise Unauthorized(f"Unknown requested_scope {scope!r}")
    _device(claims)
    ods = _organization_ods(claims)
    practitioner = claims.get("requesting_practitioner")
    if practitioner is not None:
        if not isinstance(practitioner, dict) or practitioner.get("resourceType") != "Practitioner":
            raise Unauthorized("requesting_practitioner must be a Practitioner resource")
        if str(practitioner.get("id")) != sub:
            raise Unauthorized("requesting_practitioner.id must match sub")
    return claims, scope, ods
