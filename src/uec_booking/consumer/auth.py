"""Where the consumer's access tokens come from:

- `ClientCredentialsTokens`: the NHS authentication service (the seed's client credentials,
  cached per provider audience until shortly before expiry);
- `InterimTokens`: under the standard's interim rule, built by the consumer itself for each
  request (unsigned, GP Connect style), naming the scope of the interaction;
- `PlatformTokens` (`consumer.platform_auth`): the NHS API platform's signed-JWT flow, for PDS.

A provider client asks its `TokenSource` once per request, saying which interaction the
request performs; a source that caches (client credentials) ignores it."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any, Protocol

import httpx

from uec_booking.consumer.errors import AuthError, ServiceUnreachable
from uec_booking.fhir.interactions import Interaction
from uec_booking.tokens_interim import SCOPE_FOR_INTERACTION

DEVICE_SYSTEM = "https://consumersupplier.com/Id/device-identifier"


class TokenSource(Protocol):
    """A bearer token for `audience` (a provider's service root URL), for a request that
    performs `interaction` (None: any, e.g. to check that tokens can be had at all)."""

    async def token(self, *, audience: str, interaction: Interaction | None = None) -> str: ...


class ClientCredentialsTokens:
    """OAuth2 client credentials with `scope=<audience>/.default`; one token per audience,
    reused until `refresh_margin` seconds before it expires."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        transport: httpx.AsyncBaseTransport | None = None,
        refresh_margin: float = 60.0,
        timeout: float = 10.0,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self._transport = transport
        self.refresh_margin = refresh_margin
        self.timeout = timeout
        self._cache: dict[str, tuple[str, float]] = {}  # audience -> token, monotonic expiry
        self._lifetimes: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self.requests = 0

    async def token(self, *, audience: str, interaction: Interaction | None = None) -> str:
        # One token carries every group the client is assured for: the interaction does not
        # change which token is needed.
        audience = audience.rstrip("/")
        cached = self._fresh(audience)
        if cached:
            return cached
        async with self._lock:  # one request, however many coroutines ask at once
            cached = self._fresh(audience)
            if cached:
                return cached
            token, lifetime = await self._request(audience)
            self._cache[audience] = (token, time.monotonic() + lifetime)
            self._lifetimes[audience] = lifetime
            return token

    def _fresh(self, audience: str) -> str | None:
        """The cached token unless it is within the refresh margin of expiring (the margin
        is capped at half the token's lifetime, so short-lived tokens still get reused)."""
        cached = self._cache.get(audience)
        if cached is None:
            return None
        token, expires_at = cached
        margin = min(self.refresh_margin, self._lifetimes.get(audience, 0.0) / 2)
        return token if time.monotonic() < expires_at - margin else None

    def invalidate(self, audience: str) -> None:
        """Forget a token the provider refused (401), so the next call gets a fresh one."""
        self._cache.pop(audience.rstrip("/"), None)

    async def _request(self, audience: str) -> tuple[str, float]:
        self.requests += 1
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
            "scope": f"{audience}/.default",
        }
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=self.timeout) as client:
                response = await client.post(self.token_url, data=form)
        except httpx.HTTPError as exc:
            raise ServiceUnreachable(f"NHS authentication service unreachable: {exc}") from exc
        if response.status_code >= 500:
            raise ServiceUnreachable(f"NHS authentication service answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise AuthError(f"Token endpoint answered {response.status_code} without JSON") from exc
        if not isinstance(body, dict):
            raise AuthError(f"Token endpoint answered {response.status_code} with a non-object")
        if response.status_code != 200:
            raise AuthError(
                f"Token refused ({response.status_code}): {body.get('error')}: "
                f"{body.get('error_description', '')}",
                error=_str_or_none(body.get("error")),
            )
        access_token, expires_in = body.get("access_token"), body.get("expires_in", 3600)
        if not isinstance(access_token, str) or not access_token:
            raise AuthError("Token endpoint answered 200 without an access_token")
        if str(body.get("token_type", "Bearer")).lower() != "bearer":
            raise AuthError(f"Unsupported token_type {body.get('token_type')!r}")
        try:
            return access_token, float(expires_in)
        except (TypeError, ValueError) as exc:
            raise AuthError(f"Token endpoint answered expires_in={expires_in!r}") from exc


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _b64(data: dict[str, Any]) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
        .rstrip(b"=")
        .decode()
    )


class InterimTokens:
    """The standard's interim rule: no authorisation server, the consumer builds an unsigned
    JWT (GP Connect style) for each request; the SSP vouches for the sending system.

    `requested_scope` follows the interaction (`organization/slot.read` for metadata and
    slot search, `patient/appointment.read` for reads and searches of Appointment,
    `patient/appointment.write` for booking and cancelling); `requested_scope=` fixes one
    scope for every request instead (tests of the provider's refusals).

    tokens = InterimTokens(issuer="https://111.example.nhs.uk/", consumer_ods="X26CN1",
                           consumer_name="NHS 111 North", device_id="CONS-APP-4")
    token = await tokens.token(audience=endpoint, interaction=Interaction.READ_SLOT)
    """

    def __init__(
        self,
        *,
        consumer_ods: str,
        consumer_name: str,
        device_id: str,
        issuer: str = "https://consumer.example.nhs.uk",
        subject: str | None = None,
        practitioner: dict[str, Any] | None = None,
        requested_scope: str | None = None,
        device_system: str = DEVICE_SYSTEM,
        product: str = "uec-booking",
        version: str = "0.1.0",
    ) -> None:
        self.consumer_ods = consumer_ods
        self.consumer_name = consumer_name
        self.device_id = device_id
        self.device_system = device_system
        self.issuer = issuer
        self.practitioner = practitioner
        # sub names the user; the standard: it matches requesting_practitioner.id.
        self.subject = str(practitioner["id"]) if practitioner else (subject or "1")
        self.requested_scope = requested_scope
        self.product, self.version = product, version

    def scope_for(self, interaction: Interaction | None) -> str:
        if self.requested_scope:
            return self.requested_scope
        if interaction is None:
            return "organization/slot.read"
        return SCOPE_FOR_INTERACTION[interaction.short]

    def claims(
        self,
        audience: str,
        *,
        now: int | None = None,
        scope: str | None = None,
        interaction: Interaction | None = None,
    ) -> dict[str, Any]:
        iat = int(time.time()) if now is None else now
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": audience,
            "exp": iat + 300,
            "iat": iat,
            "jti": str(uuid.uuid4()),
            "reason_for_request": "directcare",
            "requested_scope": scope or self.scope_for(interaction),
            "requesting_device": {
                "resourceType": "Device",
                "id": "1",
                "identifier": [{"system": self.device_system, "value": self.device_id}],
                "model": self.product,
                "version": self.version,
            },
            "requesting_organization": {
                "resourceType": "Organization",
                "identifier": [
                    {
                        "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                        "value": self.consumer_ods,
                    }
                ],
                "name": self.consumer_name,
            },
        }
        if self.practitioner:
            claims["requesting_practitioner"] = self.practitioner
        return claims

    async def token(self, *, audience: str, interaction: Interaction | None = None) -> str:
        claims = self.claims(audience, interaction=interaction)
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
