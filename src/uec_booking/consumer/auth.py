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
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol, Required, TypedDict, Unpack

import httpx

from uec_booking.consumer.errors import AuthError, ServiceUnreachable
from uec_booking.consumer.http_service import HttpService
from uec_booking.fhir.interactions import Interaction
from uec_booking.tokens_interim import SCOPE_FOR_INTERACTION

DEVICE_SYSTEM = "https://consumersupplier.com/Id/device-identifier"


class TokenSource(Protocol):
    """A bearer token for `audience` (a provider's service root URL), for a request that
    performs `interaction` (None: any, e.g. to check that tokens can be had at all)."""

    async def token(self, *, audience: str, interaction: Interaction | None = None) -> str: ...


class TokenCache:
    """Access tokens kept per audience, each reused until `refresh_margin` seconds before it
    expires (the margin capped at half the token's lifetime, so that short-lived tokens are
    still reused), and fetched once however many coroutines ask at once."""

    def __init__(
        self, *, refresh_margin: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._kept: dict[str, tuple[str, float]] = {}  # audience -> token, when to refresh
        self._lock = asyncio.Lock()

    def put(self, audience: str, token: str, lifetime: float) -> None:
        margin = min(self.refresh_margin, lifetime / 2)
        self._kept[audience] = (token, self._clock() + lifetime - margin)

    def _fresh(self, audience: str) -> str | None:
        kept = self._kept.get(audience)
        return kept[0] if kept and self._clock() < kept[1] else None

    async def get(self, audience: str, fetch: Callable[[], Awaitable[tuple[str, float]]]) -> str:
        """The kept token for `audience`, or a new one from `fetch` (token, lifetime in s)."""
        token = self._fresh(audience)
        if token:
            return token
        async with self._lock:
            token = self._fresh(audience)
            if token:
                return token
            token, lifetime = await fetch()
            self.put(audience, token, lifetime)
            return token

    def invalidate(self, audience: str) -> None:
        """Forget a token the service refused (401), so the next call gets a fresh one."""
        self._kept.pop(audience, None)


class EndpointOptions(TypedDict, total=False):
    """How a token source reaches its endpoint and keeps its tokens (`token_url` needed)."""

    token_url: Required[str]
    transport: httpx.AsyncBaseTransport | None
    timeout: float  # seconds; 10 by default
    refresh_margin: float  # seconds before expiry a token is renewed (the source's default)
    clock: Callable[[], float]  # time.monotonic by default


class TokenEndpoint(HttpService):
    """An OAuth2 token endpoint (RFC 6749) this consumer asks for bearer tokens, and the
    tokens it keeps (`cache`); `requests` counts the token requests sent."""

    service: ClassVar[str]  # named in errors
    default_lifetime: ClassVar[float]  # when the answer has no expires_in
    default_refresh_margin: ClassVar[float]

    def __init__(self, **options: Unpack[EndpointOptions]) -> None:
        super().__init__(options.get("timeout", 10.0), options.get("transport"))
        self.token_url = options["token_url"]
        self.cache = TokenCache(
            refresh_margin=options.get("refresh_margin", self.default_refresh_margin),
            clock=options.get("clock", time.monotonic),
        )
        self.requests = 0

    async def _post(self, form: dict[str, str]) -> tuple[str, float]:
        """The access token the endpoint issues for `form`, and its lifetime in seconds."""
        self.requests += 1
        service = self.service
        try:
            async with self._client() as client:
                response = await client.post(self.token_url, data=form)
        except httpx.HTTPError as exc:
            raise ServiceUnreachable(f"{service} unreachable: {exc}") from exc
        status = response.status_code
        if status >= 500:
            raise ServiceUnreachable(f"{service} answered {status}")
        try:
            body = response.json()
        except ValueError as exc:
            raise AuthError(f"Token endpoint answered {status} without JSON") from exc
        if not isinstance(body, dict):
            raise AuthError(f"Token endpoint answered {status} with a non-object")
        if status != 200:
            error = body.get("error")
            raise AuthError(
                f"Token refused by {service} ({status}): {error}: {body.get('error_description', '')}",
                error=None if error is None else str(error),
            )
        access_token, expires_in = (
            body.get("access_token"),
            body.get("expires_in", self.default_lifetime),
        )
        if not isinstance(access_token, str) or not access_token:
            raise AuthError("Token endpoint answered 200 without an access_token")
        if str(body.get("token_type", "Bearer")).lower() != "bearer":
            raise AuthError(f"Unsupported token_type {body.get('token_type')!r}")
        try:
            # The NHS API platform sends expires_in as a string ("599").
            return access_token, float(expires_in)
        except (TypeError, ValueError) as exc:
            raise AuthError(f"Token endpoint answered expires_in={expires_in!r}") from exc


class ClientCredentialsTokens(TokenEndpoint):
    """OAuth2 client credentials with `scope=<audience>/.default`; one token per audience,
    reused until `refresh_margin` seconds before it expires."""

    service = "NHS authentication service"
    default_lifetime = 3600
    default_refresh_margin = 60.0

    def __init__(
        self, *, client_id: str, client_secret: str, **endpoint: Unpack[EndpointOptions]
    ) -> None:
        super().__init__(**endpoint)
        self.client_id = client_id
        self._secret = client_secret

    async def token(self, *, audience: str, interaction: Interaction | None = None) -> str:
        # One token carries every group the client is assured for: the interaction does not
        # change which token is needed.
        audience = audience.rstrip("/")
        return await self.cache.get(audience, lambda: self._request(audience))

    def invalidate(self, audience: str) -> None:
        """Forget a token the provider refused (401), so the next call gets a fresh one."""
        self.cache.invalidate(audience.rstrip("/"))

    async def _request(self, audience: str) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
            "scope": f"{audience}/.default",
        }
        return await self._post(form)


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
